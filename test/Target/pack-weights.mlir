// moe-pack-weights: the f32, bf16, f16, fp8 and mxfp4 weights (rank >= 2) that only
// the B operands of GEMMs read are laid out in panels, the parts of stacked
// weights (exec.concat_weights) that only GEMMs read too; weights a copy or a
// launch reads stay row-major; a module for cuda is an error.
// RUN: moe-opt %s --split-input-file --verify-diagnostics --moe-pack-weights | FileCheck %s

// CHECK-LABEL: func.func @plan
// CHECK: exec.weight "w" from "m.safetensors" panels : <40x8xf32>
// CHECK: exec.weight "v" random(7) panels : <2x4x8xf32>
// CHECK: exec.weight "shared" random(8) : <4x8xf32>
// CHECK: exec.weight "wb" random(3) panels : <2x4x8xbf16>
// CHECK: exec.weight "wh" random(4) panels : <4x8xf16>
// CHECK: exec.weight "w8" from "m.safetensors" scales "w8_scale_inv" panels : <2x4x8xf8E4M3FN>
// CHECK: exec.weight "w4" random(11) panels : <2x4x32xf4E2M1FN>
// CHECK: exec.weight "bias" random(9) : <8xf32>
// CHECK: exec.weight "unused" random(10) : <4x8xf32>
func.func @plan() {
  %x = exec.input "x" offset(0) bytes([32, 0]) : <?x8xf32>
  %w = exec.weight "w" from "m.safetensors" : <40x8xf32>
  %v = exec.weight "v" random(7) : <2x4x8xf32>
  %s = exec.weight "shared" random(8) : <4x8xf32>
  %wb = exec.weight "wb" random(3) : <2x4x8xbf16>
  %wh = exec.weight "wh" random(4) : <4x8xf16>
  %w8 = exec.weight "w8" from "m.safetensors" scales "w8_scale_inv" : <2x4x8xf8E4M3FN>
  %w4 = exec.weight "w4" random(11) : <2x4x32xf4E2M1FN>
  %bias = exec.weight "bias" random(9) : <8xf32>
  %unused = exec.weight "unused" random(10) : <4x8xf32>
  %o = exec.alloc offset(64) bytes([0, 12]) : <3xi32>
  %y = exec.alloc offset(128) bytes([160, 0]) : <?x40xf32>
  %y4 = exec.alloc offset(4096) bytes([16, 0]) : <?x4xf32>
  %z = exec.alloc offset(8192) bytes([0, 128]) : <4x8xf32>
  %xb = exec.alloc offset(12288) bytes([16, 0]) : <?x8xbf16>
  exec.gemm %x, %w -> %y rows([1, 0]) n(40) k(8) : <?x8xf32>, <40x8xf32> -> <?x40xf32>
  exec.grouped_gemm %x, %v, %o -> %y4 rows([1, 0]) experts(2) n(4) k(8) : <?x8xf32>, <2x4x8xf32>, <3xi32> -> <?x4xf32>
  exec.gemm %x, %s -> %y4 rows([1, 0]) n(4) k(8) {accumulate} : <?x8xf32>, <4x8xf32> -> <?x4xf32>
  exec.copy %s -> %z bytes([0, 128]) : <4x8xf32> -> <4x8xf32>
  exec.grouped_gemm %xb, %wb, %o -> %y4 rows([1, 0]) experts(2) n(4) k(8) : <?x8xbf16>, <2x4x8xbf16>, <3xi32> -> <?x4xf32>
  %xh = exec.alloc offset(16384) bytes([16, 0]) : <?x8xf16>
  exec.gemm %xh, %wh -> %y4 rows([1, 0]) n(4) k(8) : <?x8xf16>, <4x8xf16> -> <?x4xf32>
  exec.grouped_gemm %x, %w8, %o -> %y4 rows([1, 0]) experts(2) n(4) k(8) : <?x8xf32>, <2x4x8xf8E4M3FN>, <3xi32> -> <?x4xf32>
  %x32 = exec.alloc offset(20480) bytes([128, 0]) : <?x32xf32>
  exec.grouped_gemm %x32, %w4, %o -> %y4 rows([1, 0]) experts(2) n(4) k(32) : <?x32xf32>, <2x4x32xf4E2M1FN>, <3xi32> -> <?x4xf32>
  exec.launch @kernel_0(%x, %bias) extent([1, 0]) grain(16) : !exec.buffer<?x8xf32>, !exec.buffer<8xf32>
  exec.output "y", %y : <?x40xf32>
  return
}

// -----

// CHECK-LABEL: func.func @stacked
// CHECK: %[[G:.*]] = exec.weight "g" from "m.safetensors" panels : <2x32x8xf32>
// CHECK: %[[U:.*]] = exec.weight "u" from "m.safetensors" panels : <2x32x8xf32>
// CHECK: exec.concat_weights %[[G]], %[[U]] : <2x32x8xf32>, <2x32x8xf32> -> <2x64x8xf32>
func.func @stacked() {
  %x = exec.input "x" offset(0) bytes([32, 0]) : <?x8xf32>
  %g = exec.weight "g" from "m.safetensors" : <2x32x8xf32>
  %u = exec.weight "u" from "m.safetensors" : <2x32x8xf32>
  %gu = exec.concat_weights %g, %u : <2x32x8xf32>, <2x32x8xf32> -> <2x64x8xf32>
  %o = exec.alloc offset(64) bytes([0, 12]) : <3xi32>
  %y = exec.alloc offset(128) bytes([256, 0]) : <?x64xf32>
  exec.grouped_gemm %x, %gu, %o -> %y rows([1, 0]) experts(2) n(64) k(8) : <?x8xf32>, <2x64x8xf32>, <3xi32> -> <?x64xf32>
  exec.output "y", %y : <?x64xf32>
  return
}

// -----

// expected-error@+1 {{moe-pack-weights: panels are the CPU GEMM's layout; this module's target is 'cuda'}}
module attributes {exec.target = "cuda"} {
  func.func @plan() {
    %w = exec.weight "w" random(1) : <4x8xf32>
    return
  }
}
