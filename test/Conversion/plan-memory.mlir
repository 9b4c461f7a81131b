// exec-plan-memory: first fit over lifetimes at max_tokens, 64-byte aligned
// sizes, inputs live from the start and outputs to the end; the arena is the
// end of the last buffer, and offsets already set are replaced.
// RUN: moe-opt %s --exec-plan-memory -split-input-file -verify-diagnostics | FileCheck %s

// CHECK-LABEL: func.func @chain
// CHECK-SAME: exec.arena_bytes = 1216 : i64
// x: 8 · 32 = 256 bytes, live throughout.
// CHECK: %[[X:.*]] = exec.input "x" offset(0) bytes([32, 0])
// a: 8 · 16 = 128 bytes after x.
// CHECK: %[[A:.*]] = exec.alloc offset(256) bytes([16, 0])
// b: 100 bytes rounded to 128, live with a: after it.
// CHECK: %[[B:.*]] = exec.alloc offset(384) bytes([0, 100])
// c: a is dead once c is written (b is read with c): a's bytes.
// CHECK: %[[C:.*]] = exec.alloc offset(256) bytes([0, 64])
// y: an output, so live to the end, with b and c: after b.
// CHECK: %[[Y:.*]] = exec.alloc offset(512) bytes([88, 0])
// z (empty, counted as one byte): live with x and y only; a, b and c are
// dead, so the first free offset is 256 again.
// CHECK: %[[Z:.*]] = exec.alloc offset(256) bytes([0, 0])
func.func @chain() attributes {exec.max_tokens = 8 : i64} {
  %x = exec.input "x" offset(0) bytes([32, 0]) : <?x8xf32>
  %a = exec.alloc offset(4096) bytes([16, 0]) : <?x4xf32>
  exec.launch @k(%x, %a) extent([1, 0]) grain(1) : !exec.buffer<?x8xf32>, !exec.buffer<?x4xf32>
  %b = exec.alloc offset(0) bytes([0, 100]) : <25xf32>
  exec.launch @k(%a, %b) extent([1, 0]) grain(1) : !exec.buffer<?x4xf32>, !exec.buffer<25xf32>
  %c = exec.alloc offset(0) bytes([0, 64]) : <16xf32>
  exec.launch @k(%b, %c) extent([1, 0]) grain(1) : !exec.buffer<25xf32>, !exec.buffer<16xf32>
  %y = exec.alloc offset(0) bytes([88, 0]) : <?x22xf32>
  exec.launch @k(%b, %c, %y) extent([1, 0]) grain(1) : !exec.buffer<25xf32>, !exec.buffer<16xf32>, !exec.buffer<?x22xf32>
  %z = exec.alloc offset(0) bytes([0, 0]) : <0xf32>
  exec.launch @k(%x, %y, %z) extent([1, 0]) grain(1) : !exec.buffer<?x8xf32>, !exec.buffer<?x22xf32>, !exec.buffer<0xf32>
  exec.output "y", %y : <?x22xf32>
  return
}

// -----

// Sizes are taken at max_tokens: with 2 tokens, x is 64 bytes and a 32
// (aligned: 64); b's 100 bytes round up to 128.
// CHECK-LABEL: func.func @small
// CHECK-SAME: exec.arena_bytes = 256 : i64
// CHECK: exec.input "x" offset(0) bytes([32, 0])
// CHECK: exec.alloc offset(64) bytes([16, 0])
// CHECK: exec.alloc offset(128) bytes([0, 100])
func.func @small() attributes {exec.max_tokens = 2 : i64} {
  %x = exec.input "x" offset(0) bytes([32, 0]) : <?x8xf32>
  %a = exec.alloc offset(0) bytes([16, 0]) : <?x4xf32>
  exec.launch @k(%x, %a) extent([1, 0]) grain(1) : !exec.buffer<?x8xf32>, !exec.buffer<?x4xf32>
  %b = exec.alloc offset(0) bytes([0, 100]) : <25xf32>
  exec.launch @k(%a, %b) extent([1, 0]) grain(1) : !exec.buffer<?x4xf32>, !exec.buffer<25xf32>
  exec.output "b", %b : <25xf32>
  return
}

// -----

// expected-error@+1 {{exec-plan-memory: @no_plan is not an exec plan (no exec.max_tokens; run moe-lower-to-exec first)}}
func.func @no_plan() {
  return
}
