// Round trip of every exec op (custom and generic forms).
// RUN: moe-opt %s | moe-opt | FileCheck %s
// RUN: moe-opt %s --mlir-print-op-generic | moe-opt | FileCheck %s

// CHECK: module attributes {exec.target = "cuda", exec.target_arch = "sm_90"}
// CHECK-LABEL: func.func @plan
// CHECK-SAME: attributes {exec.arena_bytes = 4096 : i64, exec.max_tokens = 8 : i64}
// CHECK: %[[X:.*]] = exec.input "x" offset(0) bytes([32, 0]) : <?x8xf32>
// CHECK: %[[W:.*]] = exec.weight "w" from "m.safetensors" : <4x8xf32>
// CHECK: %[[V:.*]] = exec.weight "v" = dense<1.000000e+00> : tensor<2x4x8xf32> : <2x4x8xf32>
// CHECK: exec.weight "r" random(7) : <2x4x8xf32>
// CHECK: %[[P:.*]] = exec.weight "p" random(8) panels : <2x4x8xf32>
// CHECK: %[[O:.*]] = exec.alloc offset(64) bytes([0, 12]) : <3xi32>
// CHECK: %[[Y:.*]] = exec.alloc offset(128) bytes([16, 0]) : <?x4xf32>
// CHECK: %[[Z:.*]] = exec.alloc offset(256) bytes([32, 0]) : <?x8xf32>
// CHECK: exec.run_params offset(3968) : <4xi32>
// CHECK: exec.gemm %[[X]], %[[W]] -> %[[Y]] rows([1, 0]) n(4) k(8) {accumulate} : <?x8xf32>, <4x8xf32> -> <?x4xf32>
// CHECK: exec.grouped_gemm %[[X]], %[[V]], %[[O]] -> %[[Y]] rows([1, 0]) experts(2) n(4) k(8) : <?x8xf32>, <2x4x8xf32>, <3xi32> -> <?x4xf32>
// CHECK: exec.grouped_gemm %[[X]], %[[P]], %[[O]] -> %[[Y]] rows([1, 0]) experts(2) n(4) k(8) : <?x8xf32>, <2x4x8xf32>, <3xi32> -> <?x4xf32>
// CHECK: %[[XB:.*]] = exec.alloc offset(320) bytes([16, 0]) : <?x8xbf16>
// CHECK: %[[WB:.*]] = exec.weight "wb" random(3) : <2x4x8xbf16>
// CHECK: exec.grouped_gemm %[[XB]], %[[WB]], %[[O]] -> %[[Y]] rows([1, 0]) experts(2) n(4) k(8) : <?x8xbf16>, <2x4x8xbf16>, <3xi32> -> <?x4xf32>
// CHECK: %[[WH:.*]] = exec.weight "wh" from "m.safetensors" : <4x8xf16>
// CHECK: %[[W8:.*]] = exec.weight "w8" from "m.safetensors" scales "w8_scale_inv" panels : <2x4x8xf8E4M3FN>
// CHECK: exec.grouped_gemm %[[X]], %[[W8]], %[[O]] -> %[[Y]] rows([1, 0]) experts(2) n(4) k(8) : <?x8xf32>, <2x4x8xf8E4M3FN>, <3xi32> -> <?x4xf32>
// CHECK: exec.weight "q8" random(5) panels : <4x8xf8E4M3FN>
// CHECK: %[[R8:.*]] = exec.weight "r8" random(4) : <2x4x8xf8E4M3FN>
// CHECK: exec.grouped_gemm %[[XB]], %[[R8]], %[[O]] -> %[[Y]] rows([1, 0]) experts(2) n(4) k(8) {dequant = @kernel_1, gemv = @kernel_0, gemv_max_tokens = 4 : i64} : <?x8xbf16>, <2x4x8xf8E4M3FN>, <3xi32> -> <?x4xf32>
// CHECK: exec.gemm %[[XB]], %{{.*}} -> %[[Y]] rows([1, 0]) n(4) k(8) {dequant = @kernel_1} : <?x8xbf16>, <4x8xf8E4M3FN> -> <?x4xf32>
// CHECK: %[[F4:.*]] = exec.weight "f4_blocks" from "m.safetensors" mxfp4 scales "f4_scales" rows(1, 2) panels : <2x4x32xf4E2M1FN>
// CHECK: exec.grouped_gemm %{{.*}}, %[[F4]], %[[O]] -> %{{.*}} rows([1, 0]) experts(2) n(4) k(32) : <?x32xf32>, <2x4x32xf4E2M1FN>, <3xi32> -> <?x4xf32>
// CHECK: %[[X32B:.*]] = exec.alloc offset(512) bytes([64, 0]) : <?x32xbf16>
// CHECK: %[[R4:.*]] = exec.weight "r4" random(6) : <2x4x32xf4E2M1FN>
// CHECK: exec.grouped_gemm %[[X32B]], %[[R4]], %[[O]] -> %[[Y]] rows([1, 0]) experts(2) n(4) k(32) {dequant = @kernel_1} : <?x32xbf16>, <2x4x32xf4E2M1FN>, <3xi32> -> <?x4xf32>
// CHECK: exec.weight "q4" random(6) panels : <4x64xf4E2M1FN>
// CHECK: %[[I8:.*]] = exec.weight "i8" from "m.safetensors" group(64) panels : <2x4x64xi8>
// CHECK: exec.grouped_gemm %{{.*}}, %[[I8]], %[[O]] -> %{{.*}} rows([1, 0]) experts(2) n(4) k(64) {int8_activations} : <?x64xf32>, <2x4x64xi8>, <3xi32> -> <?x4xf32>
// CHECK: exec.weight "i4" random(7) group(32) panels : <4x64xi4>
// CHECK: exec.weight "d8" from "m.safetensors" scales "d8_scale_inv" : <4x8xf32>
// CHECK: exec.weight "g_blocks" from "m.safetensors" mxfp4 scales "g_scales" rows(0, 2) panels : <2x4x32xf32>
// CHECK: exec.weight "g_bias" from "m.safetensors" rows(1, 2) : <2x4xf32>
// Expert parallelism: a rank's slots (a map), the exchanges.
// CHECK: %[[M:.*]] = exec.alloc offset(512) bytes([0, 8]) : <2xi32>
// CHECK: %[[CN:.*]] = exec.alloc offset(576) bytes([0, 16]) : <4xi32>
// CHECK: %[[R:.*]] = exec.alloc offset(640) bytes([0, 512]) : <?x8xf32>
// CHECK: exec.exchange %[[Z]], %[[O]], %[[O]], %[[M]], %[[CN]] -> %[[R]] rows([1, 0]) recv_rows(16) ranks(2) slots(2) experts(2) : <?x8xf32>, <3xi32>, <3xi32>, <2xi32>, <4xi32> -> <?x8xf32>
// CHECK: exec.grouped_gemm %[[R]], %[[V]], %[[O]] map %[[M]] -> %[[Y]] rows([0, 16]) experts(2) n(4) k(8) : <?x8xf32>, <2x4x8xf32>, <3xi32>, !exec.buffer<2xi32> -> <?x4xf32>
// CHECK: exec.launch @kernel_0(%[[R]], %[[Y]]) extent([0, 16]) grain(4) limit %[[O]][2] : !exec.buffer<?x8xf32>, !exec.buffer<?x4xf32> limit !exec.buffer<3xi32>
// CHECK: exec.exchange %[[R]], %[[O]], %[[O]], %[[M]], %[[CN]] -> %[[Z]] rows([1, 0]) recv_rows(16) ranks(2) slots(2) experts(2) {back} :
// CHECK: exec.expert_choice %{{.*}} -> %{{.*}}, %{{.*}}, %[[O]] tokens([1, 0]) max_tokens(4) max_rows(8) experts(2) ranks(2) capacity_factor(2.000000e+00) : <?x2xf32> -> <8xf32>, <?xi32>, <3xi32>
// CHECK: exec.launch @kernel_0(%[[X]], %[[Y]]) extent([1, 0]) grain(16) : !exec.buffer<?x8xf32>, !exec.buffer<?x4xf32>
// CHECK: exec.fill %[[Y]] bytes([16, 0]) value(0) : <?x4xf32>
// CHECK: exec.copy %[[X]] -> %[[Z]] bytes([32, 0]) : <?x8xf32> -> <?x8xf32>
// CHECK: exec.output "y", %[[Z]] : <?x8xf32>
// CHECK: exec.output "stats", %[[O]] {aux} : <3xi32>
// CHECK: exec.code_object "host-so" "x86-64+avx2" {kernel_0 = 2 : i64} = dense<[127, 69, 76, 70]> : tensor<4xi8>
// CHECK: exec.code_object "ptx" "sm_90" {kernel_0 = 2 : i64, kernel_1 = 3 : i64} lanes {kernel_0 = 32 : i64} = dense<0> : tensor<4xi8>
// A generic kernel's declaration: its argument attributes verify without a body.
// CHECK: func.func private @declared(memref<?xf32> {exec.shape = ["2*N+1"]}) attributes {exec.kernel_params = {N = index}}
// CHECK-LABEL: func.func @warp_kernel
// CHECK-SAME: attributes {exec.lanes = 32 : i64}
// CHECK: } {exec.spread}
module attributes {exec.target = "cuda", exec.target_arch = "sm_90"} {
func.func @plan() attributes {exec.max_tokens = 8 : i64, exec.arena_bytes = 4096 : i64} {
  %x = exec.input "x" offset(0) bytes([32, 0]) : <?x8xf32>
  %w = exec.weight "w" from "m.safetensors" : <4x8xf32>
  %v = exec.weight "v" = dense<1.0> : tensor<2x4x8xf32> : <2x4x8xf32>
  %r = exec.weight "r" random(7) : <2x4x8xf32>
  %p = exec.weight "p" random(8) panels : <2x4x8xf32>
  %o = exec.alloc offset(64) bytes([0, 12]) : <3xi32>
  %y = exec.alloc offset(128) bytes([16, 0]) : <?x4xf32>
  %z = exec.alloc offset(256) bytes([32, 0]) : <?x8xf32>
  %rp = exec.run_params offset(3968) : <4xi32>
  exec.gemm %x, %w -> %y rows([1, 0]) n(4) k(8) {accumulate} : <?x8xf32>, <4x8xf32> -> <?x4xf32>
  exec.grouped_gemm %x, %v, %o -> %y rows([1, 0]) experts(2) n(4) k(8) : <?x8xf32>, <2x4x8xf32>, <3xi32> -> <?x4xf32>
  exec.grouped_gemm %x, %p, %o -> %y rows([1, 0]) experts(2) n(4) k(8) : <?x8xf32>, <2x4x8xf32>, <3xi32> -> <?x4xf32>
  %xb = exec.alloc offset(320) bytes([16, 0]) : <?x8xbf16>
  %wb = exec.weight "wb" random(3) : <2x4x8xbf16>
  exec.grouped_gemm %xb, %wb, %o -> %y rows([1, 0]) experts(2) n(4) k(8) : <?x8xbf16>, <2x4x8xbf16>, <3xi32> -> <?x4xf32>
  %wh = exec.weight "wh" from "m.safetensors" : <4x8xf16>
  %xh = exec.alloc offset(320) bytes([16, 0]) : <?x8xf16>
  exec.gemm %xh, %wh -> %y rows([1, 0]) n(4) k(8) : <?x8xf16>, <4x8xf16> -> <?x4xf32>
  %w8 = exec.weight "w8" from "m.safetensors" scales "w8_scale_inv" panels : <2x4x8xf8E4M3FN>
  exec.grouped_gemm %x, %w8, %o -> %y rows([1, 0]) experts(2) n(4) k(8) : <?x8xf32>, <2x4x8xf8E4M3FN>, <3xi32> -> <?x4xf32>
  %q8 = exec.weight "q8" random(5) panels : <4x8xf8E4M3FN>
  exec.gemm %x, %q8 -> %y rows([1, 0]) n(4) k(8) : <?x8xf32>, <4x8xf8E4M3FN> -> <?x4xf32>
  %r8 = exec.weight "r8" random(4) : <2x4x8xf8E4M3FN>
  exec.grouped_gemm %xb, %r8, %o -> %y rows([1, 0]) experts(2) n(4) k(8) {dequant = @kernel_1, gemv = @kernel_0, gemv_max_tokens = 4 : i64} : <?x8xbf16>, <2x4x8xf8E4M3FN>, <3xi32> -> <?x4xf32>
  %s8 = exec.weight "s8" random(5) : <4x8xf8E4M3FN>
  exec.gemm %xb, %s8 -> %y rows([1, 0]) n(4) k(8) {dequant = @kernel_1} : <?x8xbf16>, <4x8xf8E4M3FN> -> <?x4xf32>
  %x32 = exec.alloc offset(512) bytes([128, 0]) : <?x32xf32>
  %f4 = exec.weight "f4_blocks" from "m.safetensors" mxfp4 scales "f4_scales" rows(1, 2) panels : <2x4x32xf4E2M1FN>
  exec.grouped_gemm %x32, %f4, %o -> %y rows([1, 0]) experts(2) n(4) k(32) : <?x32xf32>, <2x4x32xf4E2M1FN>, <3xi32> -> <?x4xf32>
  %x32b = exec.alloc offset(512) bytes([64, 0]) : <?x32xbf16>
  %r4 = exec.weight "r4" random(6) : <2x4x32xf4E2M1FN>
  exec.grouped_gemm %x32b, %r4, %o -> %y rows([1, 0]) experts(2) n(4) k(32) {dequant = @kernel_1} : <?x32xbf16>, <2x4x32xf4E2M1FN>, <3xi32> -> <?x4xf32>
  %x64 = exec.alloc offset(1536) bytes([256, 0]) : <?x64xf32>
  %q4 = exec.weight "q4" random(6) panels : <4x64xf4E2M1FN>
  exec.gemm %x64, %q4 -> %y rows([1, 0]) n(4) k(64) : <?x64xf32>, <4x64xf4E2M1FN> -> <?x4xf32>
  %i8 = exec.weight "i8" from "m.safetensors" group(64) panels : <2x4x64xi8>
  exec.grouped_gemm %x64, %i8, %o -> %y rows([1, 0]) experts(2) n(4) k(64) {int8_activations} : <?x64xf32>, <2x4x64xi8>, <3xi32> -> <?x4xf32>
  %i4 = exec.weight "i4" random(7) group(32) panels : <4x64xi4>
  exec.gemm %x64, %i4 -> %y rows([1, 0]) n(4) k(64) : <?x64xf32>, <4x64xi4> -> <?x4xf32>
  %d8 = exec.weight "d8" from "m.safetensors" scales "d8_scale_inv" : <4x8xf32>
  exec.gemm %x, %d8 -> %y rows([1, 0]) n(4) k(8) : <?x8xf32>, <4x8xf32> -> <?x4xf32>
  %mx = exec.weight "g_blocks" from "m.safetensors" mxfp4 scales "g_scales" rows(0, 2) panels : <2x4x32xf32>
  %gb = exec.weight "g_bias" from "m.safetensors" rows(1, 2) : <2x4xf32>
  %m = exec.alloc offset(512) bytes([0, 8]) : <2xi32>
  %cn = exec.alloc offset(576) bytes([0, 16]) : <4xi32>
  %rv = exec.alloc offset(640) bytes([0, 512]) : <?x8xf32>
  exec.exchange %z, %o, %o, %m, %cn -> %rv rows([1, 0]) recv_rows(16) ranks(2) slots(2) experts(2) : <?x8xf32>, <3xi32>, <3xi32>, <2xi32>, <4xi32> -> <?x8xf32>
  exec.grouped_gemm %rv, %v, %o map %m -> %y rows([0, 16]) experts(2) n(4) k(8) : <?x8xf32>, <2x4x8xf32>, <3xi32>, !exec.buffer<2xi32> -> <?x4xf32>
  exec.launch @kernel_0(%rv, %y) extent([0, 16]) grain(4) limit %o[2] : !exec.buffer<?x8xf32>, !exec.buffer<?x4xf32> limit !exec.buffer<3xi32>
  exec.exchange %rv, %o, %o, %m, %cn -> %z rows([1, 0]) recv_rows(16) ranks(2) slots(2) experts(2) {back} : <?x8xf32>, <3xi32>, <3xi32>, <2xi32>, <4xi32> -> <?x8xf32>
  %sc = exec.alloc offset(1152) bytes([8, 0]) : <?x2xf32>
  %rw = exec.alloc offset(1216) bytes([0, 32]) : <8xf32>
  %rt = exec.alloc offset(1280) bytes([0, 32]) : <?xi32>
  exec.expert_choice %sc -> %rw, %rt, %o tokens([1, 0]) max_tokens(4) max_rows(8) experts(2) ranks(2) capacity_factor(2.0) : <?x2xf32> -> <8xf32>, <?xi32>, <3xi32>
  exec.launch @kernel_0(%x, %y) extent([1, 0]) grain(16) : !exec.buffer<?x8xf32>, !exec.buffer<?x4xf32>
  exec.fill %y bytes([16, 0]) value(0) : <?x4xf32>
  exec.copy %x -> %z bytes([32, 0]) : <?x8xf32> -> <?x8xf32>
  exec.output "y", %z : <?x8xf32>
  exec.output "stats", %o {aux} : <3xi32>
  return
}
exec.code_object "host-so" "x86-64+avx2" {kernel_0 = 2 : i64} = dense<[127, 69, 76, 70]> : tensor<4xi8>
exec.code_object "ptx" "sm_90" {kernel_0 = 2 : i64, kernel_1 = 3 : i64} lanes {kernel_0 = 32 : i64} = dense<0> : tensor<4xi8>
func.func private @declared(memref<?xf32> {exec.shape = ["2*N+1"]}) attributes {exec.kernel_params = {N = index}}
func.func @warp_kernel(%n: index) attributes {exec.lanes = 32 : i64} {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  scf.for %i = %c0 to %n step %c1 {
  } {exec.spread}
  return
}
}
