// exec-guard-kernel-indices: an index computed from data the kernel read
// is checked against the memref before the access (a load yields zero, a
// store is skipped, and with fault-word the kernel stores 1 to its fault
// word); indices from loop counters and the launch range are not.
// RUN: moe-opt %s --exec-guard-kernel-indices | FileCheck %s
// RUN: moe-opt %s --exec-guard-kernel-indices=fault-word=false | FileCheck %s --check-prefix=NOFAULT

module {
  module @kernels {
    // CHECK-LABEL: func.func @gather(
    // CHECK-SAME: %[[ROWS:.*]]: memref<8xi32>, %[[X:.*]]: memref<4x3xf32>, %[[Y:.*]]: memref<8x3xf32>, %[[FAULT:.*]]: memref<1xi32>, %{{.*}}: index, %{{.*}}: index, %{{.*}}: index)
    // CHECK-SAME: attributes {exec.fault_word}
    // The row index is loaded, unchecked (the loop counter bounds it):
    // CHECK: %[[R32:.*]] = memref.load %[[ROWS]][%[[I:.*]]] : memref<8xi32>
    // CHECK: %[[R:.*]] = arith.index_cast %[[R32]]
    // The gather from row r is checked against X's rows:
    // CHECK: %[[DIM:.*]] = memref.dim %[[X]], %{{.*}} : memref<4x3xf32>
    // CHECK: %[[OK:.*]] = arith.cmpi ult, %[[R]], %[[DIM]] : index
    // CHECK: %[[V:.*]] = scf.if %[[OK]] -> (f32) {
    // CHECK:   memref.load %[[X]][%[[R]], %{{.*}}] : memref<4x3xf32>
    // CHECK: } else {
    // CHECK:   memref.store %{{.*}}, %[[FAULT]][%{{.*}}] : memref<1xi32>
    // CHECK:   scf.yield %{{.*}} : f32
    // The store at the loop counter needs no check:
    // CHECK: memref.store %[[V]], %[[Y]][%[[I]], %{{.*}}] : memref<8x3xf32>
    // NOFAULT-LABEL: func.func @gather(
    // NOFAULT-SAME: memref<8x3xf32>, %{{.*}}: index, %{{.*}}: index, %{{.*}}: index) {
    // NOFAULT: scf.if
    // NOFAULT-NOT: memref<1xi32>
    func.func @gather(%rows: memref<8xi32>, %x: memref<4x3xf32>, %y: memref<8x3xf32>,
                      %T: index, %begin: index, %end: index) {
      %c0 = arith.constant 0 : index
      %c1 = arith.constant 1 : index
      %c3 = arith.constant 3 : index
      scf.for %i = %begin to %end step %c1 {
        %r32 = memref.load %rows[%i] : memref<8xi32>
        %r = arith.index_cast %r32 : i32 to index
        scf.for %j = %c0 to %c3 step %c1 {
          %v = memref.load %x[%r, %j] : memref<4x3xf32>
          memref.store %v, %y[%i, %j] : memref<8x3xf32>
        }
      }
      return
    }

    // A scatter: the store through a data-derived index is skipped when it
    // is out of range.
    // CHECK-LABEL: func.func @count(
    // CHECK: %[[E:.*]] = arith.index_cast
    // CHECK: %[[OK2:.*]] = arith.cmpi ult, %[[E]], %{{.*}} : index
    // CHECK: scf.if %[[OK2]] -> (i32) {
    // CHECK: scf.if %{{.*}} {
    // CHECK:   memref.store %{{.*}}, %{{.*}}[%[[E]]] : memref<4xi32>
    // CHECK: } else {
    func.func @count(%idx: memref<8xi32>, %counts: memref<4xi32>,
                     %T: index, %begin: index, %end: index) {
      %c1 = arith.constant 1 : index
      %one = arith.constant 1 : i32
      scf.for %i = %begin to %end step %c1 {
        %e32 = memref.load %idx[%i] : memref<8xi32>
        %e = arith.index_cast %e32 : i32 to index
        %n = memref.load %counts[%e] : memref<4xi32>
        %n1 = arith.addi %n, %one : i32
        memref.store %n1, %counts[%e] : memref<4xi32>
      }
      return
    }

    // A value clamped to bounds the compiler computed, min_s(max_s(x, 0), 7),
    // is as trusted as they are: no check.
    // CHECK-LABEL: func.func @clamped(
    // CHECK-NOT: scf.if
    // CHECK: return
    func.func @clamped(%off: memref<2xi32>, %x: memref<8xf32>, %y: memref<1xf32>,
                       %T: index, %begin: index, %end: index) {
      %c0 = arith.constant 0 : index
      %zero = arith.constant 0 : i32
      %seven = arith.constant 7 : i32
      %o = memref.load %off[%c0] : memref<2xi32>
      %lo = arith.maxsi %o, %zero : i32
      %r = arith.minsi %lo, %seven : i32
      %ri = arith.index_cast %r : i32 to index
      %v = memref.load %x[%ri] : memref<8xf32>
      memref.store %v, %y[%c0] : memref<1xf32>
      return
    }

    // Nothing read from memory indexes anything: unchanged, no fault word.
    // CHECK-LABEL: func.func @copy(
    // CHECK-SAME: %{{.*}}: memref<8xf32>, %{{.*}}: memref<8xf32>, %{{.*}}: index, %{{.*}}: index, %{{.*}}: index) {
    // CHECK-NOT: scf.if
    // CHECK: return
    func.func @copy(%a: memref<8xf32>, %b: memref<8xf32>, %T: index, %begin: index, %end: index) {
      %c1 = arith.constant 1 : index
      scf.for %i = %begin to %end step %c1 {
        %v = memref.load %a[%i] : memref<8xf32>
        memref.store %v, %b[%i] : memref<8xf32>
      }
      return
    }
  }
}
