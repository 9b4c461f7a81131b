// moe-lower-to-exec: buffers with sizes affine in T, GEMMs as library calls,
// everything else as launches of kernels specialized from the templates, a
// router-stats auxiliary output per top-k; offsets are left to
// exec-plan-memory (plan-memory.mlir).
// RUN: moe-opt %s --moe-lower-to-exec=max-tokens=64 -split-input-file -verify-diagnostics | FileCheck %s
// RUN: moe-opt %s --moe-lower-to-exec="max-tokens=64 weight-type=bf16" -split-input-file -verify-diagnostics | FileCheck %s --check-prefix=BF16
// RUN: moe-opt %s --moe-lower-to-exec="max-tokens=64 weight-type=f16" -split-input-file -verify-diagnostics | FileCheck %s --check-prefix=F16
// RUN: moe-opt %s --moe-lower-to-exec="max-tokens=64 weight-type=fp8 fuse-gate-up=true" -split-input-file -verify-diagnostics | FileCheck %s --check-prefix=FP8
// fp8 on the cuda target: A rounded to bf16 (each weight value is read as
// bf16 there), every fp8 GEMM names its dequant kernel (the matrix as bf16
// for cuBLAS: codes, scales, copy), and the grouped ones their gemv kernel
// (A, B, B's scales, offsets, C).
// RUN: moe-opt %s --moe-lower-to-exec="max-tokens=64 weight-type=fp8 target=cuda gemv-max-tokens=8" -split-input-file -verify-diagnostics | FileCheck %s --check-prefix=FP8CUDA
// FP8CUDA-LABEL: func.func @mixtral
// FP8CUDA: exec.launch @elementwise_round16_{{[0-9]+}}(%{{.*}}, %[[XB:.*]]) extent([2, 0]) grain(16) : !exec.buffer<?x8xf32>, !exec.buffer<?x8xbf16>
// FP8CUDA: exec.grouped_gemm %[[XB]], %{{.*}}, %{{.*}} -> %{{.*}} rows([2, 0]) experts(4) n(6) k(8) {dequant = @[[DQ:dequant_fp8_[0-9]+]], gemv = @[[GV:grouped_gemv_fp8_warp_[0-9]+]], gemv_max_tokens = 8 : i64} : <?x8xbf16>, <4x6x8xf8E4M3FN>, <5xi32> -> <?x6xf32>
// FP8CUDA: exec.launch @glu_{{[0-9]+}}(%{{.*}}, %{{.*}}, %[[HB:[0-9]+]]) {{.*}} !exec.buffer<?x6xbf16>
// FP8CUDA: exec.grouped_gemm %[[HB]], {{.*}} n(8) k(6) {dequant = @dequant_fp8_{{[0-9]+}}, gemv = @grouped_gemv_fp8_warp_{{[0-9]+}}, gemv_max_tokens = 8 : i64} : <?x6xbf16>, <4x8x6xf8E4M3FN>
// FP8CUDA: func.func @[[DQ]](%{{.*}}: memref<6x8xi8>, %{{.*}}: memref<1x1xf32>, %{{.*}}: memref<6x8xi16>,
// FP8CUDA: func.func @[[GV]](%{{.*}}: memref<128x8xbf16>, %{{.*}}: memref<4x6x8xi8>, %{{.*}}: memref<4x1x1xf32>, %{{.*}}: memref<5xi32>, %{{.*}}: memref<128x6xf32>,
// FP8CUDA-LABEL: func.func @switch_like
// FP8CUDA: exec.gemm %{{.*}}, %{{.*}} -> %{{.*}} rows([1, 0]) n(5) k(8) {dequant = @dequant_fp8_{{[0-9]+}}} : <?x8xbf16>, <5x8xf8E4M3FN> -> <?x5xf32>
// --weight-type=mxfp4: the FFN weights are f4E2M1FN (an MXFP4 checkpoint's
// blocks as they are, other values quantized when the artifact is written)
// against f32 activations; K (each weight's last dimension) must be a
// multiple of 32, so the splits with K = 8 or 6 fail with one error each.
// RUN: not moe-opt %s --moe-lower-to-exec="max-tokens=64 weight-type=mxfp4 fuse-gate-up=true" -split-input-file 2>/dev/null | FileCheck %s --check-prefix=MXFP4
// RUN: not moe-opt %s --moe-lower-to-exec="max-tokens=64 weight-type=mxfp4" -split-input-file 2>&1 >/dev/null | FileCheck %s --check-prefix=MXFP4ERR
// MXFP4ERR: error: moe-lower-to-exec: weight-type mxfp4 shares a scale among 32 values along K, so K (the last dimension of each FFN weight) must be a multiple of 32; this op's weight is 'tensor<4x6x8xf32>' (weight-type fp8, bf16 or f32 takes any K)
// mxfp4 on the cuda target (the same K errors): A rounded to bf16, each
// grouped GEMM names its dequant kernel (MXFP4 rows, the bf16 copy) and its
// gemv kernel (A, the rows, offsets, C); a row of K values is K / 2 bytes of
// codes then K / 32 scale bytes (K = 64: 34 bytes).
// RUN: not moe-opt %s --moe-lower-to-exec="max-tokens=64 weight-type=mxfp4 target=cuda gemv-max-tokens=8" -split-input-file 2>/dev/null | FileCheck %s --check-prefix=MXFP4CUDA
// RUN: not moe-opt %s --moe-lower-to-exec="max-tokens=64 weight-type=mxfp4" -split-input-file 2>/dev/null | FileCheck %s --check-prefix=UNFUSED
// --weight-type=int8|int4: the FFN weights are i8 / i4 with group(G) (any
// checkpoint's values quantized when the artifact is written); their GEMMs
// quantize the activations to int8 (int8_activations) unless
// int8-activations=false; K must be a multiple of group-size, which is 32,
// 64 or 128; the cuda target has no integer kernels.
// RUN: not moe-opt %s --moe-lower-to-exec="max-tokens=64 weight-type=int4 fuse-gate-up=true" -split-input-file 2>/dev/null | FileCheck %s --check-prefix=INT4
// RUN: not moe-opt %s --moe-lower-to-exec="max-tokens=64 weight-type=int8 int8-activations=false fuse-gate-up=true" -split-input-file 2>/dev/null | FileCheck %s --check-prefix=INTF32
// RUN: not moe-opt %s --moe-lower-to-exec="max-tokens=64 weight-type=int8" -split-input-file 2>&1 >/dev/null | FileCheck %s --check-prefix=INTERR
// INTERR: error: moe-lower-to-exec: weight-type int8 shares a scale among group-size = 32 values along K, so K (the last dimension of each FFN weight) must be a multiple of it; this op's weight is 'tensor<4x6x8xf32>'
// RUN: not moe-opt %s --moe-lower-to-exec="max-tokens=64 weight-type=int8 group-size=64" -split-input-file 2>&1 >/dev/null | FileCheck %s --check-prefix=INTG64
// INTG64: error: moe-lower-to-exec: weight-type int8 shares a scale among group-size = 64 values along K, so K (the last dimension of each FFN weight) must be a multiple of it; this op's weight is 'tensor<4x64x32xf32>' (try group-size 32)
// RUN: not moe-opt %s --moe-lower-to-exec="max-tokens=64 weight-type=int4 group-size=48" -split-input-file 2>&1 | FileCheck %s --check-prefix=INTG48
// INTG48: error: moe-lower-to-exec: group-size must be 32, 64 or 128, got 48
// RUN: not moe-opt %s --moe-lower-to-exec="max-tokens=64 weight-type=int4 target=cuda" -split-input-file 2>&1 | FileCheck %s --check-prefix=INTCUDA
// INTCUDA: error: moe-lower-to-exec: int4 weights run on the cpu target only (the cuda target has no integer GEMM kernels yet; weight-type bf16 or f32 runs there)
// Enum options: MLIR's option parser names the bad value.
// RUN: not moe-opt %s --moe-lower-to-exec="weight-type=f64" -split-input-file 2>&1 | FileCheck %s --check-prefix=BADTYPE
// BADTYPE: for the --weight-type option: Cannot find option named 'f64'!
// The CUDA target's generated engine for small T: each grouped GEMM names
// its grouped_gemv_warp kernel (A, B, offsets, C) and the T it is used to.
// RUN: moe-opt %s --moe-lower-to-exec="max-tokens=64 target=cuda weight-type=bf16 gemv-max-tokens=8" -split-input-file -verify-diagnostics | FileCheck %s --check-prefix=GEMV
// A bound above max-tokens covers every T and is recorded as max-tokens (the
// runtime refuses a larger one).
// RUN: moe-opt %s --moe-lower-to-exec="max-tokens=64 target=cuda gemv-max-tokens=1000" -split-input-file -verify-diagnostics | FileCheck %s --check-prefix=GEMVALL
// GEMVALL: exec.grouped_gemm {{.*}} {gemv = @grouped_gemv_warp_{{[0-9]+}}, gemv_max_tokens = 64 : i64}
// RUN: not moe-opt %s --moe-lower-to-exec="gemv-max-tokens=8" -split-input-file 2>&1 | FileCheck %s --check-prefix=GEMVCPU
// GEMVCPU: moe-lower-to-exec: gemv-max-tokens is a T >= 0 for the cuda target, got 8 for target 'cpu'

// CHECK-LABEL: func.func @mixtral
// CHECK-SAME: attributes {exec.max_tokens = 64 : i64}
// CHECK: %[[X:.*]] = exec.input "x" offset(0) bytes([32, 0]) : <?x8xf32>
// CHECK: %[[WG:.*]] = exec.weight "gate" from "m.safetensors" : <4x8xf32>
// CHECK: %[[L:.*]] = exec.alloc offset({{[0-9]+}}) bytes([16, 0]) : <?x4xf32>
// CHECK: exec.gemm %[[X]], %[[WG]] -> %[[L]] rows([1, 0]) n(4) k(8)
// CHECK: %[[W:.*]] = exec.alloc {{.*}} bytes([8, 0]) : <?x2xf32>
// CHECK: %[[I:.*]] = exec.alloc {{.*}} bytes([8, 0]) : <?x2xi32>
// CHECK: exec.launch @route_0(%[[L]], %[[W]], %[[I]]) extent([1, 0]) grain(16)
// CHECK: %[[P:.*]] = exec.alloc {{.*}} bytes([0, 36]) : <1x9xf32>
// CHECK: %[[S:.*]] = exec.alloc {{.*}} bytes([0, 32]) : <8xf32>
// CHECK: exec.launch @router_stats_partial_0(%[[L]], %[[I]], %[[P]]) extent([1, 0]) grain(64)
// CHECK: exec.launch @router_stats_final_0(%[[P]], %[[S]]) extent([0, 1]) grain(1)
// CHECK: exec.output "router_stats.0", %[[S]] {aux}
// Without a capacity, dispatch runs over chunks of 64 tokens: counts per
// chunk, their prefix per expert, the offsets, -1 rows, then the placement.
// CHECK: %[[PART:.*]] = exec.alloc {{.*}} bytes([0, 16]) : <1x4xi32>
// CHECK: %[[CNT:.*]] = exec.alloc {{.*}} bytes([0, 16]) : <4xi32>
// CHECK: %[[OFF:.*]] = exec.alloc {{.*}} bytes([0, 20]) : <5xi32>
// CHECK: %[[RT:.*]] = exec.alloc {{.*}} bytes([8, 0]) : <?xi32>
// CHECK: %[[SR:.*]] = exec.alloc {{.*}} bytes([8, 0]) : <?x2xi32>
// CHECK: exec.launch @dispatch_chunked_count_0(%[[I]], %[[PART]]) extent([1, 0]) grain(64)
// CHECK: exec.launch @dispatch_chunked_scan_0(%[[PART]], %[[CNT]]) extent([0, 4]) grain(8)
// CHECK: exec.launch @dispatch_chunked_offsets_0(%[[CNT]], %[[OFF]]) extent([0, 1]) grain(1)
// CHECK: exec.fill %[[RT]] bytes([8, 0]) value(-1)
// CHECK: exec.launch @dispatch_chunked_place_0(%[[I]], %[[PART]], %[[OFF]], %[[RT]], %[[SR]]) extent([1, 0]) grain(64)
// CHECK: %[[XP:.*]] = exec.alloc {{.*}} bytes([64, 0]) : <?x8xf32>
// CHECK: exec.launch @permute_0(%[[X]], %[[RT]], %[[XP]]) extent([2, 0]) grain(64)
// CHECK: %[[G:.*]] = exec.alloc {{.*}} bytes([48, 0]) : <?x6xf32>
// CHECK: exec.grouped_gemm %[[XP]], %{{.*}}, %[[OFF]] -> %[[G]] rows([2, 0]) experts(4) n(6) k(8)
// CHECK: %[[U:.*]] = exec.alloc {{.*}} bytes([48, 0]) : <?x6xf32>
// CHECK: exec.grouped_gemm %[[XP]], %{{.*}}, %[[OFF]] -> %[[U]] rows([2, 0]) experts(4) n(6) k(8)
// CHECK: exec.launch @glu_0(%[[G]], %[[U]]) extent([2, 0]) grain(32)
// CHECK: %[[Y:.*]] = exec.alloc {{.*}} bytes([64, 0]) : <?x8xf32>
// CHECK: exec.grouped_gemm %[[G]], %{{.*}}, %[[OFF]] -> %[[Y]] rows([2, 0]) experts(4) n(8) k(6)
// CHECK: %[[O:.*]] = exec.alloc {{.*}} bytes([32, 0]) : <?x8xf32>
// CHECK: exec.launch @combine_0(%[[Y]], %[[W]], %[[SR]], %[[O]]) extent([1, 0]) grain(8)
// CHECK: exec.output "y", %[[O]] : <?x8xf32>
// CHECK-NOT: moe.
// CHECK: module @kernels
// CHECK: func.func @route_0(%{{.*}}: memref<64x4xf32>, %{{.*}}: memref<64x2xf32>, %{{.*}}: memref<64x2xi32>, %{{.*}}: index, %{{.*}}: index, %{{.*}}: index)
// CHECK: func.func @router_stats_partial_0(%{{.*}}: memref<64x4xf32>, %{{.*}}: memref<64x2xi32>, %{{.*}}: memref<1x9xf32>,
// CHECK: func.func @router_stats_final_0(%{{.*}}: memref<1x9xf32>, %{{.*}}: memref<8xf32>,
// CHECK: func.func @dispatch_chunked_count_0(%{{.*}}: memref<64x2xi32>, %{{.*}}: memref<1x4xi32>,
// CHECK: func.func @dispatch_chunked_scan_0(%{{.*}}: memref<1x4xi32>, %{{.*}}: memref<4xi32>,
// CHECK: func.func @dispatch_chunked_offsets_0(%{{.*}}: memref<4xi32>, %{{.*}}: memref<5xi32>,
// CHECK: func.func @dispatch_chunked_place_0(%{{.*}}: memref<64x2xi32>, %{{.*}}: memref<1x4xi32>, %{{.*}}: memref<5xi32>, %{{.*}}: memref<128xi32>, %{{.*}}: memref<64x2xi32>,
// CHECK: func.func @permute_0(
// CHECK: func.func @glu_0(%{{.*}}: memref<128x6xf32>, %{{.*}}: memref<128x6xf32>,
// CHECK: func.func @combine_0(

// --weight-type=bf16: the expert weights (not the router's) are packed bf16;
// the permuted tokens are rounded to bf16 once for the gate and up GEMMs,
// the GLU's output once for the down GEMM. f16 alike.
// BF16-LABEL: func.func @mixtral
// BF16: exec.weight "gate" from "m.safetensors" : <4x8xf32>
// BF16: exec.gemm %{{.*}}, %{{.*}} -> %{{.*}} rows([1, 0]) n(4) k(8) : <?x8xf32>, <4x8xf32> -> <?x4xf32>
// BF16: %[[XP:.*]] = exec.alloc {{.*}} bytes([64, 0]) : <?x8xf32>
// BF16: exec.launch @permute_0(%{{.*}}, %{{.*}}, %[[XP]])
// BF16: %[[W1:.*]] = exec.weight "e.{e}.w1" from "m.safetensors" : <4x6x8xbf16>
// BF16: %[[XB:.*]] = exec.alloc {{.*}} bytes([32, 0]) : <?x8xbf16>
// BF16: exec.launch @elementwise_round16_0(%[[XP]], %[[XB]]) extent([2, 0]) grain(16)
// BF16: exec.grouped_gemm %[[XB]], %[[W1]], %{{.*}} -> %[[G:.*]] rows([2, 0]) experts(4) n(6) k(8) : <?x8xbf16>, <4x6x8xbf16>, <5xi32> -> <?x6xf32>
// GEMV-LABEL: func.func @mixtral
// GEMV: exec.grouped_gemm %{{.*}}, %{{.*}}, %{{.*}} -> %{{.*}} rows([2, 0]) experts(4) n(6) k(8) {gemv = @[[GV1:grouped_gemv_warp_[0-9]+]], gemv_max_tokens = 8 : i64} : <?x8xbf16>, <4x6x8xbf16>, <5xi32> -> <?x6xf32>
// GEMV: exec.grouped_gemm %{{.*}}, %{{.*}}, %{{.*}} -> %{{.*}} rows([2, 0]) experts(4) n(6) k(8) {gemv = @[[GV1]], gemv_max_tokens = 8 : i64}
// GEMV: exec.grouped_gemm %{{.*}}, %{{.*}}, %{{.*}} -> %{{.*}} rows([2, 0]) experts(4) n(8) k(6) {gemv = @[[GV2:grouped_gemv_warp_[0-9]+]], gemv_max_tokens = 8 : i64} : <?x6xbf16>, <4x8x6xbf16>
// GEMV: func.func @[[GV1]](%{{.*}}: memref<128x8xbf16>, %{{.*}}: memref<4x6x8xbf16>, %{{.*}}: memref<5xi32>, %{{.*}}: memref<128x6xf32>, %{{.*}}: index, %{{.*}}: index, %{{.*}}: index) attributes {exec.lanes = 32 : i64}
// GEMV: gpu.shuffle xor
// GEMV: func.func @[[GV2]](%{{.*}}: memref<128x6xbf16>, %{{.*}}: memref<4x8x6xbf16>, %{{.*}}: memref<5xi32>, %{{.*}}: memref<128x8xf32>
// BF16-NOT: exec.launch @elementwise
// BF16: exec.grouped_gemm %[[XB]], %{{.*}}, %{{.*}} -> %[[U:.*]] rows([2, 0]) experts(4) n(6) k(8) : <?x8xbf16>, <4x6x8xbf16>
// The GLU writes its result rounded to bf16 for the down projection itself
// (OUT, of type bf16): no f32 result, no separate rounding kernel.
// BF16: %[[HB:.*]] = exec.alloc {{.*}} bytes([24, 0]) : <?x6xbf16>
// BF16: exec.launch @glu_0(%[[G]], %[[U]], %[[HB]])
// BF16-NOT: exec.launch @elementwise
// BF16: exec.grouped_gemm %[[HB]], %{{.*}}, %{{.*}} -> %{{.*}} rows([2, 0]) experts(4) n(8) k(6) : <?x6xbf16>, <4x8x6xbf16>
// BF16: func.func @elementwise_round16_0(%{{.*}}: memref<128x8xf32>, %{{.*}}: memref<128x8xi16>,
// BF16: arith.bitcast %{{.*}} : f32 to i32
// BF16: arith.cmpf uno
// BF16: func.func @glu_0(%{{.*}}: memref<128x6xf32>, %{{.*}}: memref<128x6xf32>, %[[OUT:.*]]: memref<128x6xbf16>,
// BF16: math.exp
// BF16: arith.bitcast %{{.*}} : f32 to i32
// BF16: arith.cmpf uno
// BF16: memref.store %{{.*}}, %[[OUT]]
// --weight-type=fp8: the expert weights are fp8 (quantized when the artifact
// is written); their GEMMs read the f32 activations as they are: no
// rounding kernel, the GLU in place.
// FP8-LABEL: func.func @mixtral
// FP8: exec.weight "gate" from "m.safetensors" : <4x8xf32>
// FP8: %[[XP:.*]] = exec.alloc {{.*}} bytes([64, 0]) : <?x8xf32>
// FP8: exec.launch @permute_0(%{{.*}}, %{{.*}}, %[[XP]])
// FP8: %[[W1:.*]] = exec.weight "e.{e}.w1" from "m.safetensors" : <4x6x8xf8E4M3FN>
// FP8: exec.grouped_gemm %[[XP]], %[[W1]], %{{.*}} -> %[[G:.*]] rows([2, 0]) experts(4) n(6) k(8) : <?x8xf32>, <4x6x8xf8E4M3FN>, <5xi32> -> <?x6xf32>
// FP8-NOT: exec.launch @elementwise
// FP8: exec.launch @glu_0(%[[G]], %{{.*}}) extent([2, 0]) grain(32) : !exec.buffer<?x6xf32>, !exec.buffer<?x6xf32>
// FP8: exec.grouped_gemm %[[G]], %{{.*}}, %{{.*}} -> %{{.*}} rows([2, 0]) experts(4) n(8) k(6) : <?x6xf32>, <4x8x6xf8E4M3FN>
// An fp8 checkpoint's weight keeps its scale tensor's name: the codes are
// copied, not quantized again.
// FP8-LABEL: func.func @fp8_checkpoint
// FP8: exec.weight "e.{e}.w1" from "m.safetensors" scales "e.{e}.w1_scale_inv" : <4x6x8xf8E4M3FN>
// With another weight type the same weight is dequantized when written.
// CHECK-LABEL: func.func @fp8_checkpoint
// CHECK: exec.weight "e.{e}.w1" from "m.safetensors" scales "e.{e}.w1_scale_inv" : <4x6x8xf32>
// BF16-LABEL: func.func @fp8_checkpoint
// BF16: exec.weight "e.{e}.w1" from "m.safetensors" scales "e.{e}.w1_scale_inv" : <4x6x8xbf16>
// F16-LABEL: func.func @mixtral
// F16: exec.grouped_gemm %{{.*}} -> %{{.*}} rows([2, 0]) experts(4) n(6) k(8) : <?x8xf16>, <4x6x8xf16>, <5xi32> -> <?x6xf32>
// F16: exec.launch @glu_0(%{{.*}}, %{{.*}}, %{{.*}}) {{.*}} : !exec.buffer<?x6xf32>, !exec.buffer<?x6xf32>, !exec.buffer<?x6xf16>
// F16: func.func @elementwise_round16_0(%{{.*}}: memref<128x8xf32>, %{{.*}}: memref<128x8xi16>,
// F16: arith.truncf %{{.*}} : f32 to f16
// F16: func.func @glu_0(
// F16: arith.truncf %{{.*}} : f32 to f16
func.func @mixtral(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  %wg = moe.weight "gate" from "m.safetensors" : tensor<4x8xf32>
  %w1 = moe.weight "e.{e}.w1" from "m.safetensors" : tensor<4x6x8xf32>
  %w2 = moe.weight "e.{e}.w2" from "m.safetensors" : tensor<4x8x6xf32>
  %w3 = moe.weight "e.{e}.w3" from "m.safetensors" : tensor<4x6x8xbf16>
  %l = moe.router %x, %wg : tensor<?x8xf32>, tensor<4x8xf32> -> tensor<?x4xf32>
  %w, %i = moe.topk %l <k = 2, scoring = none, softmax_after_topk = true> : tensor<?x4xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  %c, %o, %r, %s = moe.dispatch %i experts(4) : tensor<?x2xi32> -> tensor<4xi32>, tensor<5xi32>, tensor<?xi32>, tensor<?x2xi32>
  %xp = moe.permute %x, %r : tensor<?x8xf32>, tensor<?xi32> -> tensor<?x8xf32>
  %y = moe.expert_ffn %xp, %o gate %w1 up %w3 down %w2 <activation = silu> : (tensor<?x8xf32>, tensor<5xi32>, tensor<4x6x8xf32>, tensor<4x6x8xbf16>, tensor<4x8x6xf32>) -> tensor<?x8xf32>
  %out = moe.combine %y, %w, %s : (tensor<?x8xf32>, tensor<?x2xf32>, tensor<?x2xi32>) -> tensor<?x8xf32>
  return %out : tensor<?x8xf32>
}

// -----

func.func @fp8_checkpoint(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  %wg = moe.weight "gate" from "m.safetensors" : tensor<4x8xf32>
  %w1 = moe.weight "e.{e}.w1" from "m.safetensors" format fp8_e4m3 scales "e.{e}.w1_scale_inv" : tensor<4x6x8xf32>
  %w2 = moe.weight "e.{e}.w2" from "m.safetensors" : tensor<4x8x6xf32>
  %w3 = moe.weight "e.{e}.w3" from "m.safetensors" : tensor<4x6x8xbf16>
  %l = moe.router %x, %wg : tensor<?x8xf32>, tensor<4x8xf32> -> tensor<?x4xf32>
  %w, %i = moe.topk %l <k = 2, scoring = none, softmax_after_topk = true> : tensor<?x4xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  %c, %o, %r, %s = moe.dispatch %i experts(4) : tensor<?x2xi32> -> tensor<4xi32>, tensor<5xi32>, tensor<?xi32>, tensor<?x2xi32>
  %xp = moe.permute %x, %r : tensor<?x8xf32>, tensor<?xi32> -> tensor<?x8xf32>
  %y = moe.expert_ffn %xp, %o gate %w1 up %w3 down %w2 <activation = silu> : (tensor<?x8xf32>, tensor<5xi32>, tensor<4x6x8xf32>, tensor<4x6x8xbf16>, tensor<4x8x6xf32>) -> tensor<?x8xf32>
  %out = moe.combine %y, %w, %s : (tensor<?x8xf32>, tensor<?x2xf32>, tensor<?x2xi32>) -> tensor<?x8xf32>
  return %out : tensor<?x8xf32>
}

// -----

// gpt-oss: MXFP4 weights (dequantized when the artifact is written) with a
// row selection, and a bias after each projection: the expert_bias kernel,
// in place, over the rows of the buffer each expert's offsets give.
// CHECK-LABEL: func.func @gpt_oss
// CHECK: %[[GW:.*]] = exec.weight "gu_blocks" from "m.safetensors" mxfp4 scales "gu_scales" rows(0, 2) : <4x6x32xf32>
// CHECK: exec.grouped_gemm %{{.*}}, %[[GW]], %[[O:.*]] -> %[[G:.*]] rows([2, 0]) experts(4) n(6) k(32)
// CHECK: %[[GB:.*]] = exec.weight "gu_bias" from "m.safetensors" rows(0, 2) : <4x6xf32>
// CHECK: exec.launch @expert_bias_0(%[[G]], %[[GB]], %[[O]]) extent([2, 0]) grain(16)
// CHECK: exec.launch @expert_bias_0(%{{.*}}, %{{.*}}, %[[O]])
// CHECK: exec.launch @glu_0(
// CHECK: exec.grouped_gemm {{.*}} -> %[[Y:.*]] rows([2, 0]) experts(4) n(32) k(6)
// CHECK: %[[DB:.*]] = exec.weight "d_bias" from "m.safetensors" : <4x32xf32>
// CHECK: exec.launch @expert_bias_1(%[[Y]], %[[DB]], %[[O]]) extent([2, 0]) grain(16)
// CHECK: func.func @expert_bias_0(%{{.*}}: memref<128x6xf32>, %{{.*}}: memref<4x6xf32>, %{{.*}}: memref<5xi32>,
// CHECK: func.func @expert_bias_1(%{{.*}}: memref<128x32xf32>, %{{.*}}: memref<4x32xf32>, %{{.*}}: memref<5xi32>,
// MXFP4-NOT: func.func @gpt_oss
func.func @gpt_oss(%x: tensor<?x32xf32>) -> tensor<?x32xf32> {
  %wg = moe.weight "router" from "m.safetensors" : tensor<4x32xf32>
  %g = moe.weight "gu_blocks" from "m.safetensors" format mxfp4 scales "gu_scales" rows(0, 2) : tensor<4x6x32xf32>
  %u = moe.weight "gu_blocks" from "m.safetensors" format mxfp4 scales "gu_scales" rows(1, 2) : tensor<4x6x32xf32>
  %d = moe.weight "d" from "m.safetensors" : tensor<4x32x6xf32>
  %gb = moe.weight "gu_bias" from "m.safetensors" rows(0, 2) : tensor<4x6xf32>
  %ub = moe.weight "gu_bias" from "m.safetensors" rows(1, 2) : tensor<4x6xf32>
  %db = moe.weight "d_bias" from "m.safetensors" : tensor<4x32xf32>
  %l = moe.router %x, %wg : tensor<?x32xf32>, tensor<4x32xf32> -> tensor<?x4xf32>
  %w, %i = moe.topk %l <k = 2, scoring = none, softmax_after_topk = true> : tensor<?x4xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  %c, %o, %r, %s = moe.dispatch %i experts(4) : tensor<?x2xi32> -> tensor<4xi32>, tensor<5xi32>, tensor<?xi32>, tensor<?x2xi32>
  %xp = moe.permute %x, %r : tensor<?x32xf32>, tensor<?xi32> -> tensor<?x32xf32>
  %y = moe.expert_ffn %xp, %o gate %g up %u down %d biases(up %ub, down %db, gate %gb) <activation = clamped_swiglu> : (tensor<?x32xf32>, tensor<5xi32>, tensor<4x6x32xf32>, tensor<4x6x32xf32>, tensor<4x32x6xf32>, tensor<4x6xf32>, tensor<4x32xf32>, tensor<4x6xf32>) -> tensor<?x32xf32>
  %out = moe.combine %y, %w, %s : (tensor<?x32xf32>, tensor<?x2xf32>, tensor<?x2xi32>) -> tensor<?x32xf32>
  return %out : tensor<?x32xf32>
}

// -----

// The router stays f32; no rounding kernel before the GEMMs. Gate and up
// (F = 32) are one GEMM of N = 64 (fuse-gate-up, the cuda target's default)
// over their stacked weights
// (exec.concat_weights: the gate's rows, then the up's), the GLU reading
// both halves of its result and writing the down projection's operand.
// MXFP4-LABEL: func.func @mxfp4
// MXFP4CUDA-LABEL: func.func @mxfp4
// MXFP4CUDA: %[[CU:.*]] = exec.weight "u" from "m.safetensors" : <4x32x64xf4E2M1FN>
// MXFP4CUDA: %[[CG:.*]] = exec.weight "g_blocks" from "m.safetensors" mxfp4 scales "g_scales" : <4x32x64xf4E2M1FN>
// MXFP4CUDA: %[[CGU:.*]] = exec.concat_weights %[[CG]], %[[CU]] : <4x32x64xf4E2M1FN>, <4x32x64xf4E2M1FN> -> <4x64x64xf4E2M1FN>
// MXFP4CUDA: exec.launch @elementwise_round16_0(%{{.*}}, %[[XB:.*]]) extent([2, 0]) grain(16) : !exec.buffer<?x64xf32>, !exec.buffer<?x64xbf16>
// MXFP4CUDA: exec.grouped_gemm %[[XB]], %[[CGU]], %{{.*}} -> %[[CC:.*]] rows([2, 0]) experts(4) n(64) k(64) {dequant = @[[DQ:dequant_mxfp4_[0-9]+]], gemv = @[[GV:grouped_gemv_mxfp4_warp_[0-9]+]], gemv_max_tokens = 8 : i64} : <?x64xbf16>, <4x64x64xf4E2M1FN>, <5xi32> -> <?x64xf32>
// MXFP4CUDA: exec.launch @glu_0(%[[CC]], %[[CC]], %[[CH:.*]]) extent([2, 0]) grain(32) : !exec.buffer<?x64xf32>, !exec.buffer<?x64xf32>, !exec.buffer<?x32xbf16>
// MXFP4CUDA: exec.grouped_gemm %[[CH]], %{{.*}} n(64) k(32) {dequant = @dequant_mxfp4_{{[0-9]+}}, gemv = @grouped_gemv_mxfp4_warp_{{[0-9]+}}, gemv_max_tokens = 8 : i64} : <?x32xbf16>, <4x64x32xf4E2M1FN>
// MXFP4CUDA: func.func @[[DQ]](%{{.*}}: memref<64x34xi8>, %{{.*}}: memref<64x64xi16>,
// MXFP4CUDA: func.func @[[GV]](%{{.*}}: memref<128x64xbf16>, %{{.*}}: memref<4x64x34xi8>, %{{.*}}: memref<5xi32>, %{{.*}}: memref<128x64xf32>,
// MXFP4: exec.weight "router" from "m.safetensors" : <4x64xf32>
// MXFP4: %[[U:.*]] = exec.weight "u" from "m.safetensors" : <4x32x64xf4E2M1FN>
// MXFP4: %[[D:.*]] = exec.weight "d" from "m.safetensors" : <4x64x32xf4E2M1FN>
// MXFP4: %[[G:.*]] = exec.weight "g_blocks" from "m.safetensors" mxfp4 scales "g_scales" : <4x32x64xf4E2M1FN>
// MXFP4: %[[GU:.*]] = exec.concat_weights %[[G]], %[[U]] : <4x32x64xf4E2M1FN>, <4x32x64xf4E2M1FN> -> <4x64x64xf4E2M1FN>
// MXFP4-NOT: exec.launch @elementwise
// MXFP4: exec.grouped_gemm %{{.*}}, %[[GU]], %{{.*}} -> %[[C:.*]] rows([2, 0]) experts(4) n(64) k(64) : <?x64xf32>, <4x64x64xf4E2M1FN>, <5xi32> -> <?x64xf32>
// MXFP4: exec.launch @glu_0(%[[C]], %[[C]], %[[H:.*]]) extent([2, 0]) grain(32) : !exec.buffer<?x64xf32>, !exec.buffer<?x64xf32>, !exec.buffer<?x32xf32>
// MXFP4: exec.grouped_gemm %[[H]], %[[D]], %{{.*}} -> %{{.*}} rows([2, 0]) experts(4) n(64) k(32) : <?x32xf32>, <4x64x32xf4E2M1FN>, <5xi32> -> <?x64xf32>
// MXFP4: func.func @glu_0(%{{.*}}: memref<128x64xf32>, %{{.*}}: memref<128x64xf32>, %{{.*}}: memref<128x32xf32>,
// On the cpu target, unless fuse-gate-up is given, one GEMM each.
// UNFUSED-LABEL: func.func @mxfp4
// UNFUSED-NOT: exec.concat_weights
// UNFUSED: exec.grouped_gemm {{.*}} n(32) k(64) : <?x64xf32>, <4x32x64xf4E2M1FN>
// UNFUSED: exec.grouped_gemm {{.*}} n(32) k(64) : <?x64xf32>, <4x32x64xf4E2M1FN>
// UNFUSED: exec.launch @glu_0(%{{.*}}, %{{.*}}) extent([2, 0]) grain(32) : !exec.buffer<?x32xf32>, !exec.buffer<?x32xf32>
// fp8 weights stack only where the gate's rows end at a scale block (F a
// multiple of 128); F = 32 does not.
// FP8-LABEL: func.func @mxfp4
// FP8-NOT: exec.concat_weights
// FP8: exec.grouped_gemm {{.*}} n(32) k(64)
// FP8: exec.grouped_gemm {{.*}} n(32) k(64)
// INT4-LABEL: func.func @mxfp4
// INT4: exec.weight "router" from "m.safetensors" : <4x64xf32>
// INT4: %[[U:.*]] = exec.weight "u" from "m.safetensors" group(32) : <4x32x64xi4>
// INT4: %[[D:.*]] = exec.weight "d" from "m.safetensors" group(32) : <4x64x32xi4>
// INT4: %[[G:.*]] = exec.weight "g_blocks" from "m.safetensors" mxfp4 scales "g_scales" group(32) : <4x32x64xi4>
// INT4: %[[GU:.*]] = exec.concat_weights %[[G]], %[[U]] : <4x32x64xi4>, <4x32x64xi4> -> <4x64x64xi4>
// INT4-NOT: exec.launch @elementwise
// INT4: exec.grouped_gemm %{{.*}}, %[[GU]], %{{.*}} -> %{{.*}} rows([2, 0]) experts(4) n(64) k(64) {int8_activations} : <?x64xf32>, <4x64x64xi4>, <5xi32> -> <?x64xf32>
// INT4: exec.grouped_gemm %{{.*}}, %[[D]], %{{.*}} -> %{{.*}} rows([2, 0]) experts(4) n(64) k(32) {int8_activations} : <?x32xf32>, <4x64x32xi4>, <5xi32> -> <?x64xf32>
// INTF32-LABEL: func.func @mxfp4
// INTF32: %[[U:.*]] = exec.weight "u" from "m.safetensors" group(32) : <4x32x64xi8>
// INTF32: exec.grouped_gemm {{.*}} k(64) : <?x64xf32>, <4x64x64xi8>, <5xi32> -> <?x64xf32>
// CHECK-LABEL: func.func @mxfp4
// CHECK: exec.weight "g_blocks" from "m.safetensors" mxfp4 scales "g_scales" : <4x32x64xf32>
func.func @mxfp4(%x: tensor<?x64xf32>) -> tensor<?x64xf32> {
  %wg = moe.weight "router" from "m.safetensors" : tensor<4x64xf32>
  %g = moe.weight "g_blocks" from "m.safetensors" format mxfp4 scales "g_scales" : tensor<4x32x64xf32>
  %u = moe.weight "u" from "m.safetensors" : tensor<4x32x64xf32>
  %d = moe.weight "d" from "m.safetensors" : tensor<4x64x32xf32>
  %l = moe.router %x, %wg : tensor<?x64xf32>, tensor<4x64xf32> -> tensor<?x4xf32>
  %w, %i = moe.topk %l <k = 2> : tensor<?x4xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  %c, %o, %r, %s = moe.dispatch %i experts(4) : tensor<?x2xi32> -> tensor<4xi32>, tensor<5xi32>, tensor<?xi32>, tensor<?x2xi32>
  %xp = moe.permute %x, %r : tensor<?x64xf32>, tensor<?xi32> -> tensor<?x64xf32>
  %y = moe.expert_ffn %xp, %o gate %g up %u down %d <activation = silu> : (tensor<?x64xf32>, tensor<5xi32>, tensor<4x32x64xf32>, tensor<4x32x64xf32>, tensor<4x64x32xf32>) -> tensor<?x64xf32>
  %out = moe.combine %y, %w, %s : (tensor<?x64xf32>, tensor<?x2xf32>, tensor<?x2xi32>) -> tensor<?x64xf32>
  return %out : tensor<?x64xf32>
}

// -----

// A fixed capacity gives a constant row count (4 experts x 3); a shared
// expert with a sigmoid gate becomes three GEMMs, a GLU and a scaling kernel;
// passthrough and addend go to combine. Identical kernels are shared.
// CHECK-LABEL: func.func @switch_like
// CHECK: %[[RT:.*]] = exec.alloc {{.*}} bytes([0, 48]) : <12xi32>
// CHECK: exec.launch @dispatch_0({{.*}}, %[[RT]], {{.*}}) extent([0, 1])
// CHECK: exec.launch @permute_0({{.*}}, %[[RT]], {{.*}}) extent([0, 12])
// CHECK: exec.launch @glu_0(%{{.*}}) extent([0, 12])
// CHECK: exec.gemm %{{.*}}, %{{.*}} -> %[[SG:.*]] rows([1, 0]) n(5) k(8)
// CHECK: exec.launch @glu_{{[0-9]+}}(
// CHECK: exec.launch @elementwise_sigmoid_scale_0(%{{.*}}, %{{.*}}, %{{.*}}) extent([1, 0]) grain(16)
// CHECK: exec.launch @combine_0(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}) extent([1, 0])
// CHECK: func.func @dispatch_0(%{{.*}}: memref<64x1xi32>, %{{.*}}: memref<4xi32>, %{{.*}}: memref<5xi32>, %{{.*}}: memref<12xi32>,
func.func @switch_like(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  %wg = moe.weight "gate" from "m.safetensors" : tensor<4x8xf32>
  %u = moe.weight "e.{e}.wi" from "m.safetensors" : tensor<4x6x8xf32>
  %d = moe.weight "e.{e}.wo" from "m.safetensors" : tensor<4x8x6xf32>
  %su = moe.weight "s.up" from "m.safetensors" : tensor<5x8xf32>
  %sd = moe.weight "s.down" from "m.safetensors" : tensor<8x5xf32>
  %sg = moe.weight "s.gate" from "m.safetensors" : tensor<1x8xf32>
  %l = moe.router %x, %wg : tensor<?x8xf32>, tensor<4x8xf32> -> tensor<?x4xf32>
  %w, %i = moe.topk %l <k = 1> : tensor<?x4xf32> -> tensor<?x1xf32>, tensor<?x1xi32>
  %c, %o, %r, %s = moe.dispatch %i experts(4) capacity <tokens = 3> : tensor<?x1xi32> -> tensor<4xi32>, tensor<5xi32>, tensor<12xi32>, tensor<?x1xi32>
  %xp = moe.permute %x, %r : tensor<?x8xf32>, tensor<12xi32> -> tensor<12x8xf32>
  %y = moe.expert_ffn %xp, %o up %u down %d <activation = relu, gated = false> : (tensor<12x8xf32>, tensor<5xi32>, tensor<4x6x8xf32>, tensor<4x8x6xf32>) -> tensor<12x8xf32>
  %sh = moe.shared_expert %x gate %su up %su down %sd sigmoid_gate %sg <activation = silu> : (tensor<?x8xf32>, tensor<5x8xf32>, tensor<5x8xf32>, tensor<8x5xf32>, tensor<1x8xf32>) -> tensor<?x8xf32>
  %out = moe.combine %y, %w, %s passthrough %x addend %sh : (tensor<12x8xf32>, tensor<?x1xf32>, tensor<?x1xi32>, tensor<?x8xf32>, tensor<?x8xf32>) -> tensor<?x8xf32>
  return %out : tensor<?x8xf32>
}

// -----

// A function's activations are of one type, in and out.
// expected-error@+1 {{moe-lower-to-exec: the plan compiles functions of tensors with a dynamic token dimension, tensor<?xHxf32> (or bf16, or f16), of one element type in and out; @mixed has 'tensor<?x8xf32>' besides 'bf16'}}
func.func @mixed(%x: tensor<?x8xbf16>) -> tensor<?x8xf32> {
  %y = arith.extf %x : tensor<?x8xbf16> to tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// bf16 activations (moe-import --dtype bf16) in f32 buffers: the input widened
// once, the router in f32, the GLU rounding gate and up as it reads them and
// its result (ACT16), the expert FFN's result and the shared expert's
// (before and after its sigmoid gate) rounded in place, the combine's sum
// rounded once as it writes the bf16 output (no f32 copy). The shared expert's GEMMs read the
// bf16 input itself when their weights are bf16 (BF16 run). With bf16
// weights the expert FFN holds its activations in bf16 only (BF16 run): the
// permute copies the input's bf16 rows, both grouped GEMMs write bf16, the
// GLU reads bf16, and the combine reads the experts' bf16 outputs; no f32
// buffer of expert rows is left. The shared expert's GEMMs write bf16 too,
// its sigmoid gate scales the bf16 result in place, and the combine reads
// it as its addend and writes the bf16 output.
// CHECK-LABEL: func.func @bf16_switch_like()
// CHECK: %[[IN:.*]] = exec.input "x" offset(0) bytes([16, 0]) : <?x8xbf16>
// CHECK: %[[X:.*]] = exec.alloc offset({{[0-9]+}}) bytes([32, 0]) : <?x8xf32>
// CHECK: exec.launch @elementwise_widen16_0(%[[IN]], %[[X]])
// CHECK: exec.gemm %[[X]], %{{.*}} -> %{{.*}} rows([1, 0]) n(4) k(8) : <?x8xf32>, <4x8xf32>
// CHECK: exec.launch @permute_0(%[[X]],
// CHECK: exec.launch @glu_0(%[[H:.*]]) extent
// CHECK: exec.grouped_gemm %[[H]], %{{.*}}, %{{.*}} -> %[[Y:.*]] rows
// CHECK: exec.launch @elementwise_round_in_place_0(%[[Y]])
// CHECK: exec.launch @glu_1(
// CHECK: exec.gemm %{{.*}}, %{{.*}} -> %[[S:.*]] rows([1, 0]) n(8) k(5)
// CHECK: exec.launch @elementwise_round_in_place_1(%[[S]])
// CHECK: exec.launch @elementwise_sigmoid_scale_0(%[[X]], %{{.*}}, %[[S]])
// CHECK: exec.launch @elementwise_round_in_place_1(%[[S]])
// CHECK: %[[OUT:.*]] = exec.alloc offset({{[0-9]+}}) bytes([16, 0]) : <?x8xbf16>
// CHECK-NEXT: exec.launch @combine_0(%[[Y]], %{{.*}}, %{{.*}}, %[[X]], %[[S]], %[[OUT]]) extent
// CHECK-NOT: elementwise_round
// CHECK: exec.output "y", %[[OUT]] : <?x8xbf16>
// CHECK: func.func @glu_0(
// CHECK: arith.shli
// CHECK: func.func @elementwise_round_in_place_0(
// BF16-LABEL: func.func @bf16_switch_like()
// BF16: %[[IN:.*]] = exec.input "x"
// BF16-NOT: <12x8xf32>
// BF16: %[[XP:.*]] = exec.alloc offset({{[0-9]+}}) bytes([0, 192]) : <12x8xbf16>
// BF16-NEXT: exec.launch @permute_0(%[[IN]], %{{.*}}, %[[XP]])
// BF16-NOT: <12x8xf32>
// BF16: exec.grouped_gemm %[[XP]], %{{.*}}, %{{.*}} -> %[[U:.*]] rows([0, 12]) experts(4) n(6) k(8) : <12x8xbf16>, <4x6x8xbf16>, <5xi32> -> <12x6xbf16>
// BF16: exec.launch @glu_0(%[[U]], %[[H:.*]]) extent{{.*}} : !exec.buffer<12x6xbf16>, !exec.buffer<12x6xbf16>
// BF16: exec.grouped_gemm %[[H]], %{{.*}}, %{{.*}} -> %[[Y:.*]] rows({{.*}} -> <12x8xbf16>
// BF16-NOT: <12x8xf32>
// BF16: exec.gemm %[[IN]], %{{.*}} -> %{{.*}} rows([1, 0]) n(5) k(8) : <?x8xbf16>, <5x8xbf16> -> <?x5xbf16>
// BF16: exec.gemm %{{.*}}, %{{.*}} -> %[[SY:.*]] rows([1, 0]) n(8) k(5) : <?x5xbf16>, <8x5xbf16> -> <?x8xbf16>
// BF16-NEXT: exec.weight "s.gate"
// BF16-NEXT: exec.launch @elementwise_sigmoid_scale_0(%{{.*}}, %{{.*}}, %[[SY]]) {{.*}}, !exec.buffer<?x8xbf16>
// BF16-NOT: elementwise_round
// BF16: exec.launch @combine_0(%[[Y]], %{{.*}}, %{{.*}}, %{{.*}}, %[[SY]], %[[OUT:[0-9]+]]) {{.*}} : !exec.buffer<12x8xbf16>, {{.*}}, !exec.buffer<?x8xbf16>, !exec.buffer<?x8xbf16>
// BF16-NEXT: exec.output "y", %[[OUT]]
// BF16-NOT: <12x8xf32>
// BF16: func.func @permute_0(%{{.*}}: memref<64x8xbf16>, %{{.*}}: memref<12xi32>, %{{.*}}: memref<12x8xbf16>,
// BF16: func.func @glu_0(%{{.*}}: memref<12x6xbf16>, %{{.*}}: memref<12x6xbf16>,
// BF16: func.func @combine_0(%{{.*}}: memref<12x8xbf16>,
func.func @bf16_switch_like(%x: tensor<?x8xbf16>) -> tensor<?x8xbf16> {
  %wg = moe.weight "gate" from "m.safetensors" : tensor<4x8xbf16>
  %u = moe.weight "e.{e}.wi" from "m.safetensors" : tensor<4x6x8xbf16>
  %d = moe.weight "e.{e}.wo" from "m.safetensors" : tensor<4x8x6xbf16>
  %su = moe.weight "s.up" from "m.safetensors" : tensor<5x8xbf16>
  %sd = moe.weight "s.down" from "m.safetensors" : tensor<8x5xbf16>
  %sg = moe.weight "s.gate" from "m.safetensors" : tensor<1x8xbf16>
  %l = moe.router %x, %wg : tensor<?x8xbf16>, tensor<4x8xbf16> -> tensor<?x4xf32>
  %w, %i = moe.topk %l <k = 1> : tensor<?x4xf32> -> tensor<?x1xf32>, tensor<?x1xi32>
  %c, %o, %r, %s = moe.dispatch %i experts(4) capacity <tokens = 3> : tensor<?x1xi32> -> tensor<4xi32>, tensor<5xi32>, tensor<12xi32>, tensor<?x1xi32>
  %xp = moe.permute %x, %r : tensor<?x8xbf16>, tensor<12xi32> -> tensor<12x8xbf16>
  %y = moe.expert_ffn %xp, %o up %u down %d <activation = relu, gated = false> : (tensor<12x8xbf16>, tensor<5xi32>, tensor<4x6x8xbf16>, tensor<4x8x6xbf16>) -> tensor<12x8xbf16>
  %sh = moe.shared_expert %x gate %su up %su down %sd sigmoid_gate %sg <activation = silu> : (tensor<?x8xbf16>, tensor<5x8xbf16>, tensor<5x8xbf16>, tensor<8x5xbf16>, tensor<1x8xbf16>) -> tensor<?x8xbf16>
  %out = moe.combine %y, %w, %s passthrough %x addend %sh : (tensor<12x8xbf16>, tensor<?x1xf32>, tensor<?x1xi32>, tensor<?x8xbf16>, tensor<?x8xbf16>) -> tensor<?x8xbf16>
  return %out : tensor<?x8xbf16>
}

// -----

// Several inputs keep the arguments' order; an f32 value of a bf16 function
// (the router's logits, added here) is not rounded; the result that is only
// returned is rounded once, as it is written (no round_in_place after the
// last add); an input that only GEMMs over bf16 weights read is not widened
// (BF16 run).
// CHECK-LABEL: func.func @two_inputs()
// CHECK-NEXT: %[[X0:.*]] = exec.input "x0" {{.*}} : <?x8xbf16>
// CHECK-NEXT: %[[X1:.*]] = exec.input "x1" {{.*}} : <?x8xbf16>
// CHECK: exec.launch @elementwise_widen16_0(%[[X1]], %[[W1:[0-9]+]])
// CHECK: exec.launch @elementwise_widen16_0(%[[X0]], %[[W0:[0-9]+]])
// CHECK: exec.gemm %[[W1]], %{{.*}} -> %[[L:[0-9]+]]
// CHECK-NEXT: %[[L2:.*]] = exec.alloc
// CHECK-NEXT: exec.launch @elementwise_add_0(%[[L]], %[[L]], %[[L2]])
// CHECK-NEXT: exec.alloc
// CHECK: exec.gemm %[[W0]], %{{.*}} -> %{{.*}} rows([1, 0]) n(5) k(8) : <?x8xf32>, <5x8xf32>
// CHECK: exec.launch @elementwise_round_in_place_0(%[[S:[0-9]+]])
// CHECK: exec.launch @elementwise_add_1(%[[S]], %[[W1]], %[[SUM:[0-9]+]])
// CHECK-NEXT: %[[Y:.*]] = exec.alloc {{.*}} : <?x8xbf16>
// CHECK-NEXT: exec.launch @elementwise_round16_0(%[[SUM]], %[[Y]])
// CHECK-NEXT: exec.output "y", %[[Y]] : <?x8xbf16>
// BF16-LABEL: func.func @two_inputs()
// BF16-NEXT: %[[X0:.*]] = exec.input "x0"
// BF16-NEXT: %[[X1:.*]] = exec.input "x1"
// BF16-NOT: elementwise_widen16_0(%[[X0]]
// BF16: exec.gemm %[[X0]], %{{.*}} -> %{{.*}} rows([1, 0]) n(5) k(8) : <?x8xbf16>, <5x8xbf16>
func.func @two_inputs(%x: tensor<?x8xbf16>, %r: tensor<?x8xbf16>) -> tensor<?x8xbf16> {
  %wg = moe.weight "gate" from "m.safetensors" : tensor<4x8xbf16>
  %su = moe.weight "s.up" from "m.safetensors" : tensor<5x8xbf16>
  %sd = moe.weight "s.down" from "m.safetensors" : tensor<8x5xbf16>
  %l = moe.router %r, %wg : tensor<?x8xbf16>, tensor<4x8xbf16> -> tensor<?x4xf32>
  %l2 = arith.addf %l, %l : tensor<?x4xf32>
  %w, %i = moe.topk %l2 <k = 1> : tensor<?x4xf32> -> tensor<?x1xf32>, tensor<?x1xi32>
  %sh = moe.shared_expert %x up %su down %sd <activation = relu, gated = false> : (tensor<?x8xbf16>, tensor<5x8xbf16>, tensor<8x5xbf16>) -> tensor<?x8xbf16>
  %out = arith.addf %sh, %r : tensor<?x8xbf16>
  return %out : tensor<?x8xbf16>
}

// -----

func.func @block_not_expanded(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  %wg = moe.weight "gate" from "m.safetensors" : tensor<4x8xf32>
  %u = moe.weight "e.{e}.wi" from "m.safetensors" : tensor<4x6x8xf32>
  %d = moe.weight "e.{e}.wo" from "m.safetensors" : tensor<4x8x6xf32>
  // expected-error@+1 {{moe-lower-to-exec: 'moe.block' is not supported (run moe-expand-blocks first for moe.block)}}
  %y = moe.block %x router %wg experts(up %u, down %d) routing #moe.routing<k = 1> ffn <activation = relu, gated = false> : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<4x6x8xf32>, tensor<4x8x6xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// fp8 on the cuda target where cuBLASLt's block-scaled GEMM fits (n and k
// multiples of 16, ceil(k / 128) a multiple of 4): the GEMM also names the
// act_quant kernel that quantizes A per row and block of 128 (A, offsets,
// codes, scales: fp8ActRows = rows + 16 · groups + 8 of them), and C gets 8
// more rows of room for cuBLASLt's pad rows. The shared expert's down
// projection (k = 256: two blocks) keeps only the dequant engine; so does
// every GEMM with fp8-cublaslt=false.
// RUN: moe-opt %s --moe-lower-to-exec="max-tokens=64 weight-type=fp8 target=cuda fp8-cublaslt=false" -split-input-file -verify-diagnostics | FileCheck %s --check-prefix=FP8NOLT
// FP8CUDA-LABEL: func.func @fp8_cublaslt
// FP8CUDA: %[[SGU:.*]] = exec.alloc offset(0) bytes([2048, 16384]) : <?x512xf32>
// FP8CUDA: exec.gemm %{{.*}}, %{{.*}} -> %[[SGU]] rows([1, 0]) n(512) k(512) {act_quant = @[[AS:quantize_fp8_act_[0-9]+]], dequant = @dequant_fp8_{{[0-9]+}}} : <?x512xbf16>, <512x512xf8E4M3FN> -> <?x512xf32>
// FP8CUDA: exec.gemm %{{.*}}, %{{.*}} -> %{{.*}} rows([1, 0]) n(512) k(256) {dequant = @dequant_fp8_{{[0-9]+}}} : <?x256xbf16>
// FP8CUDA: %[[GU:.*]] = exec.alloc offset(0) bytes([8192, 32768]) : <?x1024xf32>
// FP8CUDA: exec.grouped_gemm %{{.*}}, %{{.*}}, %[[OFF:.*]] -> %[[GU]] rows([2, 0]) experts(2) n(1024) k(512) {act_quant = @[[AQ:quantize_fp8_act_[0-9]+]], dequant = @dequant_fp8_{{[0-9]+}}, gemv = @grouped_gemv_fp8_warp_{{[0-9]+}}, gemv_max_tokens = 8 : i64} : <?x512xbf16>, <2x1024x512xf8E4M3FN>, <3xi32> -> <?x1024xf32>
// FP8CUDA: exec.grouped_gemm %{{.*}}, %{{.*}}, %[[OFF]] -> %{{.*}} rows([2, 0]) experts(2) n(512) k(512) {act_quant = @[[AQ]], dequant = @dequant_fp8_{{[0-9]+}}, gemv = @grouped_gemv_fp8_warp_{{[0-9]+}}, gemv_max_tokens = 8 : i64}
// FP8CUDA: func.func @[[AS]](%{{.*}}: memref<64x512xbf16>, %{{.*}}: memref<2xi32>, %{{.*}}: memref<88x512xi8>, %{{.*}}: memref<352xf32>,
// FP8CUDA: func.func @[[AQ]](%{{.*}}: memref<128x512xbf16>, %{{.*}}: memref<3xi32>, %{{.*}}: memref<168x512xi8>, %{{.*}}: memref<672xf32>,
// FP8NOLT-LABEL: func.func @fp8_cublaslt
// FP8NOLT-NOT: act_quant
// FP8NOLT: exec.grouped_gemm {{.*}} n(1024) k(512) {dequant = @dequant_fp8_{{[0-9]+}}}
// FP8NOLT-NOT: act_quant
// FP8NOLT-NOT: quantize_fp8_act
func.func @fp8_cublaslt(%x: tensor<?x512xf32>) -> tensor<?x512xf32> {
  %wg = moe.weight "gate" from "m.safetensors" : tensor<2x512xf32>
  %w1 = moe.weight "e.{e}.w1" from "m.safetensors" format fp8_e4m3 scales "e.{e}.w1_scale_inv" : tensor<2x512x512xf32>
  %w3 = moe.weight "e.{e}.w3" from "m.safetensors" format fp8_e4m3 scales "e.{e}.w3_scale_inv" : tensor<2x512x512xf32>
  %w2 = moe.weight "e.{e}.w2" from "m.safetensors" format fp8_e4m3 scales "e.{e}.w2_scale_inv" : tensor<2x512x512xf32>
  %sg = moe.weight "s.gate" from "m.safetensors" : tensor<256x512xf32>
  %su = moe.weight "s.up" from "m.safetensors" : tensor<256x512xf32>
  %sd = moe.weight "s.down" from "m.safetensors" : tensor<512x256xf32>
  %sh = moe.shared_expert %x gate %sg up %su down %sd <activation = silu> : (tensor<?x512xf32>, tensor<256x512xf32>, tensor<256x512xf32>, tensor<512x256xf32>) -> tensor<?x512xf32>
  %l = moe.router %x, %wg : tensor<?x512xf32>, tensor<2x512xf32> -> tensor<?x2xf32>
  %w, %i = moe.topk %l <k = 2, scoring = none, softmax_after_topk = true> : tensor<?x2xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  %c, %o, %r, %s = moe.dispatch %i experts(2) : tensor<?x2xi32> -> tensor<2xi32>, tensor<3xi32>, tensor<?xi32>, tensor<?x2xi32>
  %xp = moe.permute %x, %r : tensor<?x512xf32>, tensor<?xi32> -> tensor<?x512xf32>
  %y = moe.expert_ffn %xp, %o gate %w1 up %w3 down %w2 <activation = silu> : (tensor<?x512xf32>, tensor<3xi32>, tensor<2x512x512xf32>, tensor<2x512x512xf32>, tensor<2x512x512xf32>) -> tensor<?x512xf32>
  %out = moe.combine %y, %w, %s addend %sh : (tensor<?x512xf32>, tensor<?x2xf32>, tensor<?x2xi32>, tensor<?x512xf32>) -> tensor<?x512xf32>
  return %out : tensor<?x512xf32>
}
