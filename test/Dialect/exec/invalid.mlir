// One case per verifier error of the exec dialect (dialects/exec/ExecOps.cpp).
// RUN: moe-opt %s -split-input-file -verify-diagnostics

// input: a name
// expected-error@+1 {{'exec.input' op an input needs a name}}
%x = exec.input "" offset(0) bytes([32, 0]) : <?x8xf32>

// -----

// input: aligned offset
// expected-error@+1 {{'exec.input' op offset 32 must be a non-negative multiple of 64}}
%x = exec.input "x" offset(32) bytes([32, 0]) : <?x8xf32>

// -----

// alloc: non-negative bytes
// expected-error@+1 {{'exec.alloc' op bytes [-4, 0] must be non-negative}}
%y = exec.alloc offset(0) bytes([-4, 0]) : <?x8xf32>

// -----

// alloc: two entries
// expected-error@+1 {{'exec.alloc' op attribute 'bytes' failed to satisfy constraint}}
%y = exec.alloc offset(0) bytes([4]) : <?x8xf32>

// -----

// alloc: negative offset
// expected-error@+1 {{'exec.alloc' op offset -64 must be a non-negative multiple of 64}}
%y = exec.alloc offset(-64) bytes([4, 0]) : <?x8xf32>

// -----

// weight: a name
// expected-error@+1 {{'exec.weight' op tensor name must not be empty}}
%w = exec.weight "" from "m.safetensors" : <4x8xf32>

// -----

// weight: file or value
// expected-error@+1 {{'exec.weight' op needs exactly one of 'from "file"', '= value' and 'random(seed)'}}
%w = exec.weight "w" : <4x8xf32>

// -----

// weight: value and random
// expected-error@+1 {{'exec.weight' op needs exactly one of 'from "file"', '= value' and 'random(seed)'}}
%w = exec.weight "w" = dense<0.0> : tensor<4x8xf32> random(2) : <4x8xf32>

// -----

// weight: static shape
// expected-error@+1 {{'exec.weight' op a weight has a static shape, got '!exec.buffer<?x8xf32>'}}
%w = exec.weight "w" from "m.safetensors" : <?x8xf32>

// -----

// weight: fp8 weights are matrices
// expected-error@+1 {{'exec.weight' op an fp8 weight (or one read from fp8 codes with 'scales') has rank >= 2, got '!exec.buffer<8xf8E4M3FN>'}}
%w = exec.weight "w" random(1) : <8xf8E4M3FN>

// -----

// weight: MXFP4 blocks need their scales
// expected-error@+1 {{'exec.weight' op an mxfp4 weight needs its scale tensor ('mxfp4 scales "NAME"')}}
%w = exec.weight "w" from "m.safetensors" mxfp4 : <4x32xf32>

// -----

// weight: MXFP4 rows are whole groups of 32
// expected-error@+1 {{'exec.weight' op mxfp4 blocks hold rows of whole groups of 32 values: K (the last dimension) must be a multiple of 32, got '!exec.buffer<4x40xf32>'}}
%w = exec.weight "w" from "m.safetensors" mxfp4 scales "s" : <4x40xf32>

// -----

// weight: rows select along dimension 1 of one tensor
// expected-error@+1 {{'exec.weight' op 'rows' selects along dimension 1 of one checkpoint tensor (no '{e}') of rank 2 or 3}}
%w = exec.weight "w.{e}" from "m.safetensors" rows(0, 2) : <2x4x8xf32>

// -----

// weight: rows select whole mxfp4 rows, never K's groups
// expected-error@+1 {{'exec.weight' op 'rows' selects whole mxfp4 rows of an [E, N, K] tensor; on a rank-2 weight it would split K's groups of 32, got '!exec.buffer<4x32xf32>'}}
%w = exec.weight "w_blocks" from "m.safetensors" mxfp4 scales "w_scales" rows(0, 2) : <4x32xf32>

// -----

// weight: rows do not select fp8 codes
// expected-error@+1 {{'exec.weight' op 'rows' does not select fp8 codes (their 128 x 128 scale blocks span rows)}}
%w = exec.weight "w" from "m.safetensors" scales "s" rows(1, 2) : <2x4x8xf32>

// -----

// weight: scales name a checkpoint tensor
// expected-error@+1 {{'exec.weight' op 'scales' names a checkpoint tensor; the weight needs 'from "file"'}}
%w = exec.weight "w" random(1) {scales = "s"} : <4x8xf32>

// -----

// weight: an element type GEMMs read
// expected-error@+1 {{'exec.weight' op a weight holds f32, bf16, f16, f8E4M3FN, f4E2M1FN, i8 or i4, got '!exec.buffer<4x8xi16>'}}
%w = exec.weight "w" random(1) : <4x8xi16>

// -----

// weight: an int8 weight names its group
// expected-error@+1 {{'exec.weight' op an int8 / int4 weight needs 'group(G)', the values along k that share a scale, got '!exec.buffer<4x32xi8>'}}
%w = exec.weight "w" random(1) : <4x32xi8>

// -----

// weight: only int8 / int4 weights have a group
// expected-error@+1 {{'exec.weight' op 'group(G)' is for int8 / int4 (i8 / i4) weights only, got '!exec.buffer<4x32xf32>'}}
%w = exec.weight "w" random(1) group(32) : <4x32xf32>

// -----

// weight: the group sizes
// expected-error@+1 {{'exec.weight' op group(48) must be 32, 64 or 128}}
%w = exec.weight "w" random(1) group(48) : <4x96xi4>

// -----

// weight: K holds whole groups
// expected-error@+1 {{'exec.weight' op an int8 / int4 weight is [..., n, k] with k a multiple of its group 64, got '!exec.buffer<4x96xi4>'}}
%w = exec.weight "w" random(1) group(64) : <4x96xi4>

// -----

// weight: an int4 weight is a matrix
// expected-error@+1 {{'exec.weight' op an int8 / int4 weight is [..., n, k] with k a multiple of its group 32, got '!exec.buffer<64xi4>'}}
%w = exec.weight "w" random(1) group(32) : <64xi4>

// -----

// weight: only a GEMM's B reads integer codes
func.func @f() {
  // expected-error@+1 {{'exec.weight' op an int8 / int4 weight is read only as the B operand of exec.gemm or exec.grouped_gemm; 'exec.copy' uses it as operand 0}}
  %w = exec.weight "w" random(1) group(32) : <4x32xi8>
  %z = exec.alloc offset(0) bytes([0, 128]) : <4x32xi8>
  exec.copy %w -> %z bytes([0, 128]) : <4x32xi8> -> <4x32xi8>
  return
}

// -----

// gemm: int8 weights multiply f32 activations
%x = exec.input "x" offset(0) bytes([64, 0]) : <?x32xbf16>
%w = exec.weight "w" random(1) group(32) panels : <4x32xi8>
%y = exec.alloc offset(128) bytes([16, 0]) : <?x4xf32>
// expected-error@+1 {{'exec.gemm' op A must hold 'f32', got '!exec.buffer<?x32xbf16>'}}
exec.gemm %x, %w -> %y rows([1, 0]) n(4) k(32) : <?x32xbf16>, <4x32xi8> -> <?x4xf32>

// -----

// weight: value shape
// expected-error@+1 {{'exec.weight' op inline value of type 'tensor<2x8xf32>' does not have the buffer's shape '!exec.buffer<4x8xf32>'}}
%w = exec.weight "w" = dense<1.0> : tensor<2x8xf32> : <4x8xf32>

// -----

// weight: panels hold matrices
// expected-error@+1 {{'exec.weight' op a weight in panels has rank >= 2 (its [n, k] matrices are packed), got '!exec.buffer<8xf32>'}}
%w = exec.weight "w" random(1) panels : <8xf32>

// -----

// weight: only a GEMM's B reads panels
func.func @f() {
  // expected-error@+1 {{'exec.weight' op a weight in panels is read only as the B operand of exec.gemm or exec.grouped_gemm; 'exec.copy' uses it as operand 0}}
  %w = exec.weight "w" random(1) panels : <4x8xf32>
  %z = exec.alloc offset(0) bytes([0, 128]) : <4x8xf32>
  exec.copy %w -> %z bytes([0, 128]) : <4x8xf32> -> <4x8xf32>
  return
}

// -----

// output: a name
%x = exec.input "x" offset(0) bytes([32, 0]) : <?x8xf32>
// expected-error@+1 {{'exec.output' op an output needs a name}}
exec.output "", %x : <?x8xf32>

// -----

// launch: grain
%x = exec.input "x" offset(0) bytes([32, 0]) : <?x8xf32>
// expected-error@+1 {{'exec.launch' op grain must be at least 1, got 0}}
exec.launch @k(%x) extent([1, 0]) grain(0) : !exec.buffer<?x8xf32>

// -----

// launch: extent
%x = exec.input "x" offset(0) bytes([32, 0]) : <?x8xf32>
// expected-error@+1 {{'exec.launch' op extent [1, -1] must be non-negative}}
exec.launch @k(%x) extent([1, -1]) grain(4) : !exec.buffer<?x8xf32>

// -----

// gemm: n and k
%x = exec.input "x" offset(0) bytes([32, 0]) : <?x8xf32>
%w = exec.weight "w" from "m.safetensors" : <4x8xf32>
%y = exec.alloc offset(128) bytes([16, 0]) : <?x4xf32>
// expected-error@+1 {{'exec.gemm' op n and k must be at least 1, got n = 0, k = 8}}
exec.gemm %x, %w -> %y rows([1, 0]) n(0) k(8) : <?x8xf32>, <4x8xf32> -> <?x4xf32>

// -----

// gemm: B is [n, k]
%x = exec.input "x" offset(0) bytes([32, 0]) : <?x8xf32>
%w = exec.weight "w" from "m.safetensors" : <4x8xf32>
%y = exec.alloc offset(128) bytes([16, 0]) : <?x4xf32>
// expected-error@+1 {{'exec.gemm' op B dim 0 is 4, expected 5}}
exec.gemm %x, %w -> %y rows([1, 0]) n(5) k(8) : <?x8xf32>, <4x8xf32> -> <?x4xf32>

// -----

// gemm: fp8 weights multiply f32 activations
%x = exec.input "x" offset(0) bytes([16, 0]) : <?x8xbf16>
%w = exec.weight "w" from "m.safetensors" panels : <4x8xf8E4M3FN>
%y = exec.alloc offset(128) bytes([16, 0]) : <?x4xf32>
// expected-error@+1 {{'exec.gemm' op A must hold 'f32', got '!exec.buffer<?x8xbf16>'}}
exec.gemm %x, %w -> %y rows([1, 0]) n(4) k(8) : <?x8xbf16>, <4x8xf8E4M3FN> -> <?x4xf32>

// -----

// gemm: mxfp4 weights multiply f32 activations
%x = exec.input "x" offset(0) bytes([64, 0]) : <?x32xbf16>
%w = exec.weight "w" random(1) panels : <4x32xf4E2M1FN>
%y = exec.alloc offset(128) bytes([16, 0]) : <?x4xf32>
// expected-error@+1 {{'exec.gemm' op A must hold 'f32', got '!exec.buffer<?x32xbf16>'}}
exec.gemm %x, %w -> %y rows([1, 0]) n(4) k(32) : <?x32xbf16>, <4x32xf4E2M1FN> -> <?x4xf32>

// -----

// weight: an mxfp4 weight's K holds whole groups of 32
// expected-error@+1 {{'exec.weight' op an mxfp4 weight (f4E2M1FN) is [..., n, k] with k a multiple of 32 (the values that share a scale), got '!exec.buffer<4x48xf4E2M1FN>'}}
%w = exec.weight "w" random(1) : <4x48xf4E2M1FN>

// -----

// weight: an mxfp4 weight is a matrix
// expected-error@+1 {{'exec.weight' op an mxfp4 weight (f4E2M1FN) is [..., n, k] with k a multiple of 32 (the values that share a scale), got '!exec.buffer<64xf4E2M1FN>'}}
%w = exec.weight "w" random(1) : <64xf4E2M1FN>

// -----

// weight: only a GEMM's B reads mxfp4 codes
func.func @f() {
  // expected-error@+1 {{'exec.weight' op an mxfp4 weight is read only as the B operand of exec.gemm or exec.grouped_gemm; 'exec.copy' uses it as operand 0}}
  %w = exec.weight "w" random(1) : <4x32xf4E2M1FN>
  %z = exec.alloc offset(0) bytes([0, 64]) : <4x32xf4E2M1FN>
  exec.copy %w -> %z bytes([0, 64]) : <4x32xf4E2M1FN> -> <4x32xf4E2M1FN>
  return
}

// -----

// weight: only a GEMM's B reads fp8 codes
func.func @f() {
  // expected-error@+1 {{'exec.weight' op an fp8 weight is read only as the B operand of exec.gemm or exec.grouped_gemm; 'exec.copy' uses it as operand 0}}
  %w = exec.weight "w" from "m.safetensors" : <4x8xf8E4M3FN>
  %z = exec.alloc offset(0) bytes([0, 32]) : <4x8xf8E4M3FN>
  exec.copy %w -> %z bytes([0, 32]) : <4x8xf8E4M3FN> -> <4x8xf8E4M3FN>
  return
}

// -----

// gemm: A is [m, k]
%x = exec.input "x" offset(0) bytes([32, 0]) : <?x8xf32>
%w = exec.weight "w" from "m.safetensors" : <4x8xf32>
%y = exec.alloc offset(128) bytes([16, 0]) : <?x4xf32>
// expected-error@+1 {{'exec.gemm' op A dim 1 is 8, expected 4}}
exec.gemm %x, %y -> %y rows([1, 0]) n(4) k(4) : <?x8xf32>, <?x4xf32> -> <?x4xf32>

// -----

// gemm: f32 operands
%x = exec.input "x" offset(0) bytes([32, 0]) : <?x8xi32>
%w = exec.weight "w" from "m.safetensors" : <4x8xf32>
%y = exec.alloc offset(128) bytes([16, 0]) : <?x4xf32>
// expected-error@+1 {{'exec.gemm' op A must hold 'f32', got '!exec.buffer<?x8xi32>'}}
exec.gemm %x, %w -> %y rows([1, 0]) n(4) k(8) : <?x8xi32>, <4x8xf32> -> <?x4xf32>

// -----

// gemm: rank
%x = exec.input "x" offset(0) bytes([32, 0]) : <?x8xf32>
%w = exec.weight "w" from "m.safetensors" : <4x8xf32>
%y = exec.alloc offset(128) bytes([16, 0]) : <?x4xf32>
%v = exec.weight "v" from "m.safetensors" : <4x8x1xf32>
// expected-error@+1 {{'exec.gemm' op B must have rank 2, got '!exec.buffer<4x8x1xf32>'}}
exec.gemm %x, %v -> %y rows([1, 0]) n(4) k(8) : <?x8xf32>, <4x8x1xf32> -> <?x4xf32>

// -----

// gemm: rows
%x = exec.input "x" offset(0) bytes([32, 0]) : <?x8xf32>
%w = exec.weight "w" from "m.safetensors" : <4x8xf32>
%y = exec.alloc offset(128) bytes([16, 0]) : <?x4xf32>
// expected-error@+1 {{'exec.gemm' op rows [-1, 0] must be non-negative}}
exec.gemm %x, %w -> %y rows([-1, 0]) n(4) k(8) : <?x8xf32>, <4x8xf32> -> <?x4xf32>

// -----

// gemm: C is not an operand
%x = exec.input "x" offset(0) bytes([32, 0]) : <?x8xf32>
%w = exec.weight "w" from "m.safetensors" : <8x8xf32>
// expected-error@+1 {{'exec.gemm' op C must not be an operand}}
exec.gemm %x, %w -> %x rows([1, 0]) n(8) k(8) : <?x8xf32>, <8x8xf32> -> <?x8xf32>

// -----

// grouped_gemm: sizes
%x = exec.input "x" offset(0) bytes([32, 0]) : <?x8xf32>
%v = exec.weight "v" from "m.safetensors" : <2x4x8xf32>
%o = exec.alloc offset(64) bytes([0, 12]) : <3xi32>
%y = exec.alloc offset(128) bytes([16, 0]) : <?x4xf32>
// expected-error@+1 {{'exec.grouped_gemm' op experts, n and k must be at least 1, got 0, 4, 8}}
exec.grouped_gemm %x, %v, %o -> %y rows([1, 0]) experts(0) n(4) k(8) : <?x8xf32>, <2x4x8xf32>, <3xi32> -> <?x4xf32>

// -----

// grouped_gemm: B is [E, n, k]
%x = exec.input "x" offset(0) bytes([32, 0]) : <?x8xf32>
%v = exec.weight "v" from "m.safetensors" : <2x4x8xf32>
%o = exec.alloc offset(64) bytes([0, 12]) : <3xi32>
%y = exec.alloc offset(128) bytes([16, 0]) : <?x4xf32>
// expected-error@+1 {{'exec.grouped_gemm' op B dim 0 is 2, expected 3}}
exec.grouped_gemm %x, %v, %o -> %y rows([1, 0]) experts(3) n(4) k(8) : <?x8xf32>, <2x4x8xf32>, <3xi32> -> <?x4xf32>

// -----

// grouped_gemm: the generated engine needs its kernel and its T bound
%x = exec.input "x" offset(0) bytes([32, 0]) : <?x8xf32>
%v = exec.weight "v" from "m.safetensors" : <2x4x8xf32>
%o = exec.alloc offset(64) bytes([0, 12]) : <3xi32>
%y = exec.alloc offset(128) bytes([16, 0]) : <?x4xf32>
// expected-error@+1 {{'exec.grouped_gemm' op gemv and gemv_max_tokens go together}}
exec.grouped_gemm %x, %v, %o -> %y rows([1, 0]) experts(2) n(4) k(8) {gemv = @k} : <?x8xf32>, <2x4x8xf32>, <3xi32> -> <?x4xf32>

// -----

%x = exec.input "x" offset(0) bytes([32, 0]) : <?x8xf32>
%v = exec.weight "v" from "m.safetensors" : <2x4x8xf32>
%o = exec.alloc offset(64) bytes([0, 12]) : <3xi32>
%y = exec.alloc offset(128) bytes([16, 0]) : <?x4xf32>
// expected-error@+1 {{'exec.grouped_gemm' op gemv_max_tokens must be at least 1, got 0}}
exec.grouped_gemm %x, %v, %o -> %y rows([1, 0]) experts(2) n(4) k(8) {gemv = @k, gemv_max_tokens = 0 : i64} : <?x8xf32>, <2x4x8xf32>, <3xi32> -> <?x4xf32>

// -----

// grouped_gemm: offsets are i32 [E + 1]
%x = exec.input "x" offset(0) bytes([32, 0]) : <?x8xf32>
%v = exec.weight "v" from "m.safetensors" : <2x4x8xf32>
%o = exec.alloc offset(64) bytes([0, 8]) : <2xi32>
%y = exec.alloc offset(128) bytes([16, 0]) : <?x4xf32>
// expected-error@+1 {{'exec.grouped_gemm' op offsets dim 0 is 2, expected 3}}
exec.grouped_gemm %x, %v, %o -> %y rows([1, 0]) experts(2) n(4) k(8) : <?x8xf32>, <2x4x8xf32>, <2xi32> -> <?x4xf32>

// -----

// grouped_gemm: C is [rows, n]
%x = exec.input "x" offset(0) bytes([32, 0]) : <?x8xf32>
%v = exec.weight "v" from "m.safetensors" : <2x4x8xf32>
%o = exec.alloc offset(64) bytes([0, 12]) : <3xi32>
%y = exec.alloc offset(128) bytes([20, 0]) : <?x5xf32>
// expected-error@+1 {{'exec.grouped_gemm' op C dim 1 is 5, expected 4}}
exec.grouped_gemm %x, %v, %o -> %y rows([1, 0]) experts(2) n(4) k(8) : <?x8xf32>, <2x4x8xf32>, <3xi32> -> <?x5xf32>

// -----

// grouped_gemm: C is not A
%x = exec.input "x" offset(0) bytes([32, 0]) : <?x8xf32>
%v = exec.weight "v" from "m.safetensors" : <2x8x8xf32>
%o = exec.alloc offset(64) bytes([0, 12]) : <3xi32>
// expected-error@+1 {{'exec.grouped_gemm' op C must not be A}}
exec.grouped_gemm %x, %v, %o -> %x rows([1, 0]) experts(2) n(8) k(8) : <?x8xf32>, <2x8x8xf32>, <3xi32> -> <?x8xf32>

// -----

// fill: bytes
%x = exec.input "x" offset(0) bytes([32, 0]) : <?x8xf32>
// expected-error@+1 {{'exec.fill' op bytes [0, -8] must be non-negative}}
exec.fill %x bytes([0, -8]) value(0) : <?x8xf32>

// -----

// copy: distinct buffers
%x = exec.input "x" offset(0) bytes([32, 0]) : <?x8xf32>
// expected-error@+1 {{'exec.copy' op source and destination are the same buffer}}
exec.copy %x -> %x bytes([32, 0]) : <?x8xf32> -> <?x8xf32>

// -----

// copy: bytes
%x = exec.input "x" offset(0) bytes([32, 0]) : <?x8xf32>
%z = exec.alloc offset(256) bytes([32, 0]) : <?x8xf32>
// expected-error@+1 {{'exec.copy' op bytes [-32, 0] must be non-negative}}
exec.copy %x -> %z bytes([-32, 0]) : <?x8xf32> -> <?x8xf32>

// -----

// code_object: format
// expected-error@+1 {{'exec.code_object' op format must be host-so, ptx or cubin, got 'wasm'}}
exec.code_object "wasm" "x86-64" {k = 1 : i64} = dense<0> : tensor<4xi8>

// -----

// code_object: argument counts
// expected-error@+1 {{'exec.code_object' op kernel 'k' needs a non-negative argument count}}
exec.code_object "host-so" "x86-64" {k = -1 : i64} = dense<0> : tensor<4xi8>

// -----

// gemm: A and B hold the same type
%x = exec.input "x" offset(0) bytes([32, 0]) : <?x8xf32>
%w = exec.weight "w" from "m.safetensors" : <4x8xbf16>
%y = exec.alloc offset(128) bytes([16, 0]) : <?x4xf32>
// expected-error@+1 {{'exec.gemm' op A must hold 'bf16', got '!exec.buffer<?x8xf32>'}}
exec.gemm %x, %w -> %y rows([1, 0]) n(4) k(8) : <?x8xf32>, <4x8xbf16> -> <?x4xf32>

// -----

// grouped_gemm: operands are f32, bf16 or f16
%x = exec.alloc offset(0) bytes([32, 0]) : <?x8xi32>
%v = exec.alloc offset(256) bytes([0, 256]) : <2x4x8xi32>
%o = exec.alloc offset(64) bytes([0, 12]) : <3xi32>
%y = exec.alloc offset(128) bytes([16, 0]) : <?x4xf32>
// expected-error@+1 {{'exec.grouped_gemm' op B must hold f32, bf16, f16, f8E4M3FN, f4E2M1FN, i8 or i4, got '!exec.buffer<2x4x8xi32>'}}
exec.grouped_gemm %x, %v, %o -> %y rows([1, 0]) experts(2) n(4) k(8) : <?x8xi32>, <2x4x8xi32>, <3xi32> -> <?x4xf32>

// -----

// The plan's attributes (dialects/exec/ExecDialect.cpp).
// exec.target: cpu or cuda
// expected-error@+1 {{'exec.target' must be "cpu" or "cuda", got "tpu"}}
module attributes {exec.target = "tpu"} {}

// -----

// exec.target: on a module
// expected-error@+1 {{'exec.target' belongs on a builtin.module}}
func.func @f() attributes {exec.target = "cpu"} { return }

// -----

// exec.target_arch: sm_NN
// expected-error@+1 {{'exec.target_arch' must be a GPU architecture sm_NN (or sm_NNa), got "gfx90a"}}
module attributes {exec.target = "cuda", exec.target_arch = "gfx90a"} {}

// -----

// exec.target_arch: the cuda target's
// expected-error@+1 {{'exec.target_arch' needs the cuda target, this module's is "cpu"}}
module attributes {exec.target = "cpu", exec.target_arch = "sm_90"} {}

// -----

// exec.max_tokens: at least 1
// expected-error@+1 {{'exec.max_tokens' must be at least 1, got 0}}
func.func @f() attributes {exec.max_tokens = 0 : i64} { return }

// -----

// exec.max_tokens: an i64
// expected-error@+1 {{'exec.max_tokens' must be an i64}}
func.func @f() attributes {exec.max_tokens = "8"} { return }

// -----

// exec.arena_bytes: needs max_tokens
// expected-error@+1 {{'exec.arena_bytes' needs 'exec.max_tokens', the T that it is planned for}}
func.func @f() attributes {exec.arena_bytes = 64 : i64} { return }

// -----

// exec.arena_bytes: every range fits at max_tokens
func.func @f() attributes {exec.max_tokens = 8 : i64, exec.arena_bytes = 256 : i64} {
  %x = exec.input "x" offset(0) bytes([32, 0]) : <?x8xf32>
  // expected-error@+1 {{'exec.alloc' op range [128, 384) at max_tokens = 8 does not fit the function's arena of 256 bytes}}
  %y = exec.alloc offset(128) bytes([32, 0]) : <?x8xf32>
  return
}

// -----

// exec.arena_bytes: inputs too
func.func @f() attributes {exec.max_tokens = 4 : i64, exec.arena_bytes = 64 : i64} {
  // expected-error@+1 {{'exec.input' op range [0, 128) at max_tokens = 4 does not fit the function's arena of 64 bytes}}
  %x = exec.input "x" offset(0) bytes([32, 0]) : <?x8xf32>
  return
}

// -----

// exec.lanes: 1 or 32
// expected-error@+1 {{'exec.lanes' must be 1 or 32 (a warp per item), got 64}}
func.func @k() attributes {exec.lanes = 64 : i64} { return }

// -----

// exec.spread: on a loop
// expected-error@+1 {{'exec.spread' belongs on a loop}}
func.func @k() attributes {exec.spread} { return }

// -----

// exec.spread: a unit attribute
func.func @k(%n: index) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  // expected-error@+1 {{'exec.spread' is a unit attribute}}
  scf.for %i = %c0 to %n step %c1 {
  } {exec.spread = 2 : i64}
  return
}

// -----

// unknown exec attributes
// expected-error@+1 {{unknown exec attribute 'exec.arena_size'}}
func.func @f() attributes {exec.arena_size = 64 : i64} { return }

// -----

// code_object: lanes of its own kernels
// expected-error@+1 {{'exec.code_object' op lanes of 'other', which is not one of its kernels}}
exec.code_object "ptx" "sm_90" {k = 1 : i64} lanes {other = 32 : i64} = dense<0> : tensor<4xi8>

// -----

// code_object: lanes a power of two up to 1024
// expected-error@+1 {{'exec.code_object' op lanes of 'k' must be a power of two from 1 to 1024}}
exec.code_object "ptx" "sm_90" {k = 1 : i64} lanes {k = 48 : i64} = dense<0> : tensor<4xi8>

// -----

// param: only in a kernel that declares parameters
func.func @k() {
  // expected-error@+1 {{'exec.param' op is not in a kernel that declares its parameters (exec.kernel_params)}}
  %e = exec.param "E" : index
  return
}

// -----

// param: a declared name
func.func @k() attributes {exec.kernel_params = {E = index, K = index}} {
  // expected-error@+1 {{'exec.param' op 'H' is not a parameter of @k (declared: E, K)}}
  %h = exec.param "H" : index
  return
}

// -----

// param: of its declared type
func.func @k() attributes {exec.kernel_params = {ALPHA = f32}} {
  // expected-error@+1 {{'exec.param' op 'ALPHA' is declared 'f32', read as 'f64'}}
  %a = exec.param "ALPHA" : f64
  return
}

// -----

// kernel_params: types a kernel can bind
// expected-error@+1 {{kernel parameter 'S' must have type index, i1, i64, f32, f64 or none (an element type), got vector<2xf32>}}
func.func @k() attributes {exec.kernel_params = {S = vector<2xf32>}} { return }

// -----

// shape: one entry per dimension
// expected-error@+1 {{'exec.shape' of argument 0 has 1 dimensions, the memref 2}}
func.func @k(%x: memref<?x?xf32> {exec.shape = ["N"]}) attributes {exec.kernel_params = {N = index}} { return }

// -----

// shape: index parameters
// expected-error@+1 {{'exec.shape' of argument 0: 'ALPHA' is not an index parameter of the kernel}}
func.func @k(%x: memref<?xf32> {exec.shape = ["2*ALPHA+1"]}) attributes {exec.kernel_params = {ALPHA = f32}} { return }

// -----

// shape: N, NAME, NAME+B or A*NAME+B
// expected-error@+1 {{'exec.shape' of argument 0: "N-1" is not N, NAME, NAME+B or A*NAME+B}}
func.func @k(%x: memref<?xf32> {exec.shape = ["N-1"]}) attributes {exec.kernel_params = {N = index}} { return }

// -----

// if: a flag
// expected-error@+1 {{'exec.if' of argument 0: 'N' is not an i1 parameter of the kernel}}
func.func @k(%x: memref<?xf32> {exec.if = "N"}) attributes {exec.kernel_params = {N = index}} { return }

// -----

// kernel_one_of: groups of flags
// expected-error@+1 {{'exec.kernel_one_of': "N" is not an i1 parameter of the kernel}}
func.func @k() attributes {exec.kernel_params = {A = i1, N = index}, exec.kernel_one_of = [["A", "N"]]} { return }

// -----

// element_type: a type parameter, on an f32 memref
// expected-error@+1 {{'exec.element_type' of argument 0: 'N' is not a type parameter (none) of the kernel}}
func.func @k(%x: memref<?xf32> {exec.element_type = "N"}) attributes {exec.kernel_params = {N = index}} { return }

// -----

// The plan's integers are signless.
// expected-error@+1 {{'exec.max_tokens' must be an i64}}
func.func @f() attributes {exec.max_tokens = 8 : si64} { return }

// -----

// shape: signless integer entries
// expected-error@+1 {{'exec.shape' of argument 0: 4 : ui32 is not N, NAME, NAME+B or A*NAME+B}}
func.func @k(%x: memref<?xf32> {exec.shape = [4 : ui32]}) attributes {exec.kernel_params = {}} { return }

// -----

// gemm: int8_activations needs an int8 / int4 B
%x = exec.input "x" offset(0) bytes([128, 0]) : <?x32xf32>
%w = exec.weight "w" random(1) panels : <4x32xf32>
%y = exec.alloc offset(128) bytes([16, 0]) : <?x4xf32>
// expected-error@+1 {{'exec.gemm' op int8_activations is for an int8 / int4 (i8 / i4) B, got '!exec.buffer<4x32xf32>'}}
exec.gemm %x, %w -> %y rows([1, 0]) n(4) k(32) {int8_activations} : <?x32xf32>, <4x32xf32> -> <?x4xf32>

// -----

// gemm: dequant reads an fp8 B
%x = exec.input "x" offset(0) bytes([64, 0]) : <?x32xbf16>
%w = exec.weight "w" random(1) : <4x32xbf16>
%y = exec.alloc offset(128) bytes([16, 0]) : <?x4xf32>
// expected-error@+1 {{'exec.gemm' op dequant is for an fp8 or mxfp4 (f8E4M3FN, f4E2M1FN) B, got '!exec.buffer<4x32xbf16>'}}
exec.gemm %x, %w -> %y rows([1, 0]) n(4) k(32) {dequant = @d} : <?x32xbf16>, <4x32xbf16> -> <?x4xf32>

// -----

// grouped_gemm: with dequant, A holds bf16 (the values B is read as)
%x = exec.input "x" offset(0) bytes([128, 0]) : <?x32xf32>
%w = exec.weight "w" random(1) : <2x4x32xf8E4M3FN>
%o = exec.alloc offset(128) bytes([0, 12]) : <3xi32>
%y = exec.alloc offset(256) bytes([16, 0]) : <?x4xf32>
// expected-error@+1 {{'exec.grouped_gemm' op A must hold 'bf16', got '!exec.buffer<?x32xf32>'}}
exec.grouped_gemm %x, %w, %o -> %y rows([1, 0]) experts(2) n(4) k(32) {dequant = @d} : <?x32xf32>, <2x4x32xf8E4M3FN>, <3xi32> -> <?x4xf32>

// -----

// gemm: act_quant (cuBLASLt's engine) goes with an fp8 B's dequant kernel
%x = exec.input "x" offset(0) bytes([2048, 0]) : <?x512xf32>
%w = exec.weight "w" random(1) : <16x512xf8E4M3FN>
%y = exec.alloc offset(2048) bytes([64, 512]) : <?x16xf32>
// expected-error@+1 {{'exec.gemm' op act_quant goes with an fp8 (f8E4M3FN) B and its dequant kernel, got '!exec.buffer<16x512xf8E4M3FN>' without dequant}}
exec.gemm %x, %w -> %y rows([1, 0]) n(16) k(512) {act_quant = @q} : <?x512xf32>, <16x512xf8E4M3FN> -> <?x16xf32>

// -----

// grouped_gemm: act_quant needs ceil(k / 128) a multiple of 4 (cuBLASLt
// reads the weight's scales as stored)
%x = exec.input "x" offset(0) bytes([512, 0]) : <?x256xbf16>
%w = exec.weight "w" random(1) : <2x16x256xf8E4M3FN>
%o = exec.alloc offset(512) bytes([0, 12]) : <3xi32>
%y = exec.alloc offset(1024) bytes([64, 512]) : <?x16xf32>
// expected-error@+1 {{'exec.grouped_gemm' op act_quant needs n and k multiples of 16 and ceil(k / 128) a multiple of 4, got n = 16, k = 256}}
exec.grouped_gemm %x, %w, %o -> %y rows([1, 0]) experts(2) n(16) k(256) {act_quant = @q, dequant = @d} : <?x256xbf16>, <2x16x256xf8E4M3FN>, <3xi32> -> <?x16xf32>

// -----

// gemm: act_quant's GEMM is not accumulated
%x = exec.input "x" offset(0) bytes([1024, 0]) : <?x512xbf16>
%w = exec.weight "w" random(1) : <16x512xf8E4M3FN>
%y = exec.alloc offset(1024) bytes([64, 512]) : <?x16xf32>
// expected-error@+1 {{'exec.gemm' op act_quant's GEMM is written, not accumulated}}
exec.gemm %x, %w -> %y rows([1, 0]) n(16) k(512) {accumulate, act_quant = @q, dequant = @d} : <?x512xbf16>, <16x512xf8E4M3FN> -> <?x16xf32>

// -----

// gemm: without dequant an fp8 B is read against f32 A
%x = exec.input "x" offset(0) bytes([64, 0]) : <?x32xbf16>
%w = exec.weight "w" random(1) : <4x32xf8E4M3FN>
%y = exec.alloc offset(128) bytes([16, 0]) : <?x4xf32>
// expected-error@+1 {{'exec.gemm' op A must hold 'f32', got '!exec.buffer<?x32xbf16>'}}
exec.gemm %x, %w -> %y rows([1, 0]) n(4) k(32) : <?x32xbf16>, <4x32xf8E4M3FN> -> <?x4xf32>

// -----

// grouped_gemm: a map is i32 [experts]
%x = exec.input "x" offset(0) bytes([32, 0]) : <?x8xf32>
%v = exec.weight "v" from "m.safetensors" : <4x4x8xf32>
%o = exec.alloc offset(64) bytes([0, 12]) : <3xi32>
%m = exec.alloc offset(128) bytes([0, 12]) : <3xi32>
%y = exec.alloc offset(192) bytes([16, 0]) : <?x4xf32>
// expected-error@+1 {{'exec.grouped_gemm' op map dim 0 is 3, expected 2}}
exec.grouped_gemm %x, %v, %o map %m -> %y rows([1, 0]) experts(2) n(4) k(8) : <?x8xf32>, <4x4x8xf32>, <3xi32>, !exec.buffer<3xi32> -> <?x4xf32>

// -----

// expert_choice: the row buffers hold what a rank may keep, experts ·
// min(C, max_tokens) = 2 · min(ceil(2.0 · 8 / 2), 4) = 8 rows
%s = exec.alloc offset(0) bytes([8, 0]) : <?x2xf32>
%w = exec.alloc offset(64) bytes([0, 28]) : <7xf32>
%t = exec.alloc offset(128) bytes([0, 28]) : <?xi32>
%o = exec.alloc offset(192) bytes([0, 12]) : <3xi32>
// expected-error@+1 {{'exec.expert_choice' op max_rows must be at least 8 (experts x min(C, max_tokens)), got 7}}
exec.expert_choice %s -> %w, %t, %o tokens([1, 0]) max_tokens(4) max_rows(7) experts(2) ranks(2) capacity_factor(2.0) : <?x2xf32> -> <7xf32>, <?xi32>, <3xi32>

// -----

%s = exec.alloc offset(0) bytes([8, 0]) : <?x2xf32>
%w = exec.alloc offset(64) bytes([0, 32]) : <8xf32>
%t = exec.alloc offset(128) bytes([0, 32]) : <?xi32>
%o = exec.alloc offset(192) bytes([0, 12]) : <3xi32>
// expected-error@+1 {{'exec.expert_choice' op experts, ranks and max_tokens must be at least 1 and capacity_factor finite and > 0, got 2, 2, 4, 0}}
exec.expert_choice %s -> %w, %t, %o tokens([1, 0]) max_tokens(4) max_rows(8) experts(2) ranks(2) capacity_factor(0.0) : <?x2xf32> -> <8xf32>, <?xi32>, <3xi32>

// -----

// exchange: counts is i32 [ranks · slots]
%x = exec.input "x" offset(0) bytes([32, 0]) : <?x8xf32>
%o = exec.alloc offset(64) bytes([0, 12]) : <3xi32>
%m = exec.alloc offset(128) bytes([0, 8]) : <2xi32>
%c = exec.alloc offset(192) bytes([0, 12]) : <3xi32>
%r = exec.alloc offset(256) bytes([0, 512]) : <?x8xf32>
// expected-error@+1 {{'exec.exchange' op counts dim 0 is 3, expected 4}}
exec.exchange %x, %o, %o, %m, %c -> %r rows([1, 0]) recv_rows(16) ranks(2) slots(2) experts(2) : <?x8xf32>, <3xi32>, <3xi32>, <2xi32>, <3xi32> -> <?x8xf32>

// -----

// exchange: src and dst rows alike
%x = exec.input "x" offset(0) bytes([32, 0]) : <?x8xf32>
%o = exec.alloc offset(64) bytes([0, 12]) : <3xi32>
%m = exec.alloc offset(128) bytes([0, 8]) : <2xi32>
%c = exec.alloc offset(192) bytes([0, 16]) : <4xi32>
%r = exec.alloc offset(256) bytes([0, 256]) : <?x4xf32>
// expected-error@+1 {{'exec.exchange' op dst dim 1 is 4, expected 8}}
exec.exchange %x, %o, %o, %m, %c -> %r rows([1, 0]) recv_rows(16) ranks(2) slots(2) experts(2) : <?x8xf32>, <3xi32>, <3xi32>, <2xi32>, <4xi32> -> <?x4xf32>

// -----

// exchange: sizes
%x = exec.input "x" offset(0) bytes([32, 0]) : <?x8xf32>
%o = exec.alloc offset(64) bytes([0, 12]) : <3xi32>
%m = exec.alloc offset(128) bytes([0, 8]) : <2xi32>
%c = exec.alloc offset(192) bytes([0, 16]) : <4xi32>
%r = exec.alloc offset(256) bytes([0, 512]) : <?x8xf32>
// expected-error@+1 {{'exec.exchange' op ranks, slots and experts must be at least 1 and recv_rows not negative, got 0, 2, 2, 16}}
exec.exchange %x, %o, %o, %m, %c -> %r rows([1, 0]) recv_rows(16) ranks(0) slots(2) experts(2) : <?x8xf32>, <3xi32>, <3xi32>, <2xi32>, <4xi32> -> <?x8xf32>

// -----

// launch: a limit is an element of a 1-D i32 buffer
%x = exec.input "x" offset(0) bytes([32, 0]) : <?x8xf32>
%o = exec.alloc offset(64) bytes([0, 12]) : <3xi32>
// expected-error@+1 {{'exec.launch' op the limit must be an element of a 1-D i32 buffer, got index 3 of '!exec.buffer<3xi32>'}}
exec.launch @kernel_0(%x) extent([0, 16]) grain(4) limit %o[3] : !exec.buffer<?x8xf32> limit !exec.buffer<3xi32>

// -----

// run_params: i32 [4]
// expected-error@+1 {{'exec.run_params' op the run's parameters are !exec.buffer<4xi32>, not '!exec.buffer<8xi32>'}}
%p = exec.run_params offset(0) : <8xi32>

// -----

// run_params: one per function
func.func @f() {
  %p = exec.run_params offset(0) : <4xi32>
  // expected-error@+1 {{'exec.run_params' op a function has at most one exec.run_params}}
  %q = exec.run_params offset(64) : <4xi32>
  return
}

// -----

// concat_weights: two exec.weight results
%a = exec.alloc offset(0) bytes([0, 1024]) : <32x8xf32>
%w = exec.weight "w" random(1) : <32x8xf32>
// expected-error@+1 {{'exec.concat_weights' op stacks the matrices of two exec.weight results}}
%c = exec.concat_weights %a, %w : <32x8xf32>, <32x8xf32> -> <64x8xf32>

// -----

// concat_weights: [..., n1, k] and [..., n2, k] into [..., n1 + n2, k]
%g = exec.weight "g" random(1) : <2x32x8xf32>
%u = exec.weight "u" random(2) : <2x32x8xf32>
// expected-error@+1 {{'exec.concat_weights' op stacks [..., n1, k] and [..., n2, k] into [..., n1 + n2, k], got '!exec.buffer<2x32x8xf32>', '!exec.buffer<2x32x8xf32>' -> '!exec.buffer<2x32x16xf32>'}}
%c = exec.concat_weights %g, %u : <2x32x8xf32>, <2x32x8xf32> -> <2x32x16xf32>

// -----

// concat_weights: one element type
%g = exec.weight "g" random(1) : <32x8xf32>
%u = exec.weight "u" random(2) : <32x8xbf16>
// expected-error@+1 {{'exec.concat_weights' op stacks weights of one element type}}
%c = exec.concat_weights %g, %u : <32x8xf32>, <32x8xbf16> -> <64x8xf32>

// -----

// concat_weights: both synthetic or neither
%g = exec.weight "g" random(1) : <32x8xf32>
%u = exec.weight "u" from "m.safetensors" : <32x8xf32>
// expected-error@+1 {{'exec.concat_weights' op stacks two synthetic weights ('random') or none}}
%c = exec.concat_weights %g, %u : <32x8xf32>, <32x8xf32> -> <64x8xf32>

// -----

// concat_weights: the first's rows end at a panel (fp8: a scale block)
%g = exec.weight "g" random(1) : <24x8xf32>
%u = exec.weight "u" random(2) : <24x8xf32>
// expected-error@+1 {{'exec.concat_weights' op the first weight's rows (24) must be a multiple of 32 (the panel width)}}
%c = exec.concat_weights %g, %u : <24x8xf32>, <24x8xf32> -> <48x8xf32>

// -----

%g = exec.weight "g" random(1) : <64x8xf8E4M3FN>
%u = exec.weight "u" random(2) : <64x8xf8E4M3FN>
// expected-error@+1 {{'exec.concat_weights' op the first weight's rows (64) must be a multiple of 128 (the fp8 scale blocks)}}
%c = exec.concat_weights %g, %u : <64x8xf8E4M3FN>, <64x8xf8E4M3FN> -> <128x8xf8E4M3FN>

// -----

// concat_weights: read only as a GEMM's B
%g = exec.weight "g" random(1) : <32x8xf32>
%u = exec.weight "u" random(2) : <32x8xf32>
// expected-error@+1 {{'exec.concat_weights' op stacked weights are read only as the B operand of exec.gemm or exec.grouped_gemm; 'exec.copy' uses them as operand 0}}
%c = exec.concat_weights %g, %u : <32x8xf32>, <32x8xf32> -> <64x8xf32>
%z = exec.alloc offset(0) bytes([0, 2048]) : <64x8xf32>
exec.copy %c -> %z bytes([0, 2048]) : <64x8xf32> -> <64x8xf32>
