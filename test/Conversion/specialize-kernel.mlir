// exec-specialize-kernel: a generic kernel cloned under a new name with its
// parameters bound (flags default to off), the arguments of flags that are
// off dropped, memrefs given their exec.shape (A*NAME+B entries too), private
// helpers inlined, and the dead branches folded; every wrong binding is an
// error that names the kernel.
// RUN: moe-opt %s --exec-specialize-kernel="kernel=scale name=s4 bind=N=4,FACTOR=0.5" | FileCheck %s
// RUN: moe-opt %s --exec-specialize-kernel="kernel=scale name=s4b bind=N=4,FACTOR=0.5,BIASED=true" | FileCheck %s --check-prefix=WITHBIAS
// RUN: not moe-opt %s --exec-specialize-kernel="kernel=scale bind=N=4,FACTOR=0.5,SHIFT=1" 2>&1 | FileCheck %s --check-prefix=UNKNOWN
// RUN: not moe-opt %s --exec-specialize-kernel="kernel=scale bind=FACTOR=0.5" 2>&1 | FileCheck %s --check-prefix=MISSING
// RUN: not moe-opt %s --exec-specialize-kernel="kernel=scale bind=N=4,FACTOR=true" 2>&1 | FileCheck %s --check-prefix=TYPE
// RUN: not moe-opt %s --exec-specialize-kernel="kernel=pick bind=A=true,B=true" 2>&1 | FileCheck %s --check-prefix=ONEOF
// RUN: not moe-opt %s --exec-specialize-kernel="kernel=pick" 2>&1 | FileCheck %s --check-prefix=NONE
// RUN: not moe-opt %s --exec-specialize-kernel="kernel=leaky bind=N=4" 2>&1 | FileCheck %s --check-prefix=LEAK
// RUN: not moe-opt %s --exec-specialize-kernel="kernel=nothere" 2>&1 | FileCheck %s --check-prefix=NOKERNEL
// RUN: not moe-opt %s --exec-specialize-kernel="kernel=declared" 2>&1 | FileCheck %s --check-prefix=DECL
// RUN: not moe-opt %s --exec-specialize-kernel="kernel=scale bind=N=2000000000,FACTOR=1.0" 2>&1 | FileCheck %s --check-prefix=RANGE
// RUN: not moe-opt %s --exec-specialize-kernel="kernel=nested" 2>&1 | FileCheck %s --check-prefix=NESTED
// RUN: moe-opt %s --exec-specialize-kernel="kernel=widen name=w bind=DT=f16" | FileCheck %s --check-prefix=WIDEN
// RUN: moe-opt %s --exec-specialize-kernel="kernel=widen name=w bind=DT=bf16" | FileCheck %s --check-prefix=WIDENBF16
// RUN: moe-opt %s --exec-specialize-kernel="kernel=copy name=c bind=DT=bf16" | FileCheck %s --check-prefix=COPY
// RUN: moe-opt %s --exec-specialize-kernel="kernel=narrow name=n bind=DT=bf16" | FileCheck %s --check-prefix=NARROW
// RUN: moe-opt %s --exec-specialize-kernel="kernel=narrow name=n bind=DT=f16" | FileCheck %s --check-prefix=NARROW16
// RUN: moe-opt %s --exec-specialize-kernel="kernel=narrow name=n bind=DT=f32" | FileCheck %s --check-prefix=NARROW32
// RUN: not moe-opt %s --exec-specialize-kernel="kernel=viewed name=n bind=DT=bf16" 2>&1 | FileCheck %s --check-prefix=VIEWED
// RUN: not moe-opt %s --exec-specialize-kernel="kernel=scale bind=N" 2>&1 | FileCheck %s --check-prefix=SYNTAX

// The generic kernel stays as it was; the specialization comes last.
// CHECK: func.func @scale(%{{.*}}: memref<?xf32> {exec.shape = ["N"]}
// CHECK: func.func @s4(%[[X:.*]]: memref<4xf32>, %[[Y:.*]]: memref<9xf32>, %{{.*}}: index, %{{.*}}: index, %{{.*}}: index) {
// CHECK-DAG: %[[F:.*]] = arith.constant 5.000000e-01 : f32
// CHECK-DAG: %[[N:.*]] = arith.constant 4 : index
// CHECK: scf.for %[[I:.*]] = %{{.*}} to %[[N]]
// CHECK: %[[V:.*]] = memref.load %[[X]][%[[I]]]
// CHECK: %[[S:.*]] = arith.mulf %[[V]], %[[F]]
// CHECK: memref.store %[[S]], %[[Y]][%[[I]]]
// CHECK-NOT: exec.param
// CHECK-NOT: scf.if
// CHECK: return

// WITHBIAS: func.func @s4b(%{{.*}}: memref<4xf32>, %[[B:.*]]: memref<4xf32>, %{{.*}}: memref<9xf32>,
// WITHBIAS: memref.load %[[B]]
// WITHBIAS: arith.addf

// UNKNOWN: error: kernel @scale has no parameter 'SHIFT' (its parameters: BIASED: i1, FACTOR: f32, N: index)
// MISSING: error: kernel @scale needs parameter 'N' of type 'index'
// TYPE: error: kernel @scale: parameter 'FACTOR' is 'f32', bound to the non-number true
// ONEOF: error: kernel @pick needs exactly one of A, B, got A, B
// NONE: error: kernel @pick needs exactly one of A, B, got none
// LEAK: error: kernel @leaky: argument 1 is used with its flag 'USE' off
// WIDEN: func.func @w(%[[X:.*]]: memref<4xf16>, %[[Y:.*]]: memref<4xf32>,
// WIDEN: %[[H:.*]] = memref.load %[[X]]
// WIDEN: %[[F:.*]] = arith.extf %[[H]] : f16 to f32
// WIDEN: memref.store %[[F]], %[[Y]]
// WIDENBF16: func.func @w(%[[X:.*]]: memref<4xbf16>, %[[Y:.*]]: memref<4xf32>,
// WIDENBF16: %[[H:.*]] = memref.load %[[X]]
// WIDENBF16-NEXT: %[[I:.*]] = arith.bitcast %[[H]] : bf16 to i16
// WIDENBF16-NEXT: %[[E:.*]] = arith.extui %[[I]] : i16 to i32
// WIDENBF16-NEXT: %[[S:.*]] = arith.shli %[[E]], %{{.*}} : i32
// WIDENBF16-NEXT: %[[F:.*]] = arith.bitcast %[[S]] : i32 to f32
// WIDENBF16-NEXT: memref.store %[[F]], %[[Y]]
// COPY: func.func @c(%[[X:.*]]: memref<4xbf16>, %[[Y:.*]]: memref<4xbf16>,
// COPY-NEXT: %{{.*}} = arith.constant
// COPY-NEXT: %[[V:.*]] = memref.load %[[X]]
// COPY-NEXT: memref.store %[[V]], %[[Y]]
// COPY-NEXT: return
// NARROW: func.func @n(%[[X:.*]]: memref<4xbf16>,
// NARROW: %[[BITS:.*]] = arith.bitcast %{{.*}} : f32 to i32
// NARROW: arith.shrui %[[BITS]]
// NARROW: arith.cmpf uno
// NARROW: %[[Q:.*]] = arith.select {{.*}} : i16
// NARROW: %[[B:.*]] = arith.bitcast %[[Q]] : i16 to bf16
// NARROW: memref.store %[[B]], %[[X]]
// NARROW16: func.func @n(%[[X:.*]]: memref<4xf16>,
// NARROW16: %[[H:.*]] = arith.truncf %{{.*}} : f32 to f16
// NARROW16: memref.store %[[H]], %[[X]]
// NARROW32: func.func @n(%[[X:.*]]: memref<4xf32>,
// NARROW32-NOT: arith.bitcast
// NARROW32: memref.store %{{.*}}, %[[X]]
// VIEWED: error: kernel @viewed: argument 0 holds elements of type DT, so it may only be loaded and stored, not used by 'memref.dim'
// DECL: error: @declared is a declaration: there is no body to specialize
// RANGE: error: kernel @scale: argument 2 has a dimension out of range ("2*N+1" with N = 2000000000)
// NESTED: error: kernel @nested calls @pick, which is not a single-block helper of the kernel library
// NOKERNEL: error: exec-specialize-kernel: no kernel @nothere in this module
// SYNTAX: error: exec-specialize-kernel: 'N' is not NAME=VALUE (an integer, true, false, a float, or f32, bf16 or f16)

func.func private @times(%v: f32, %f: f32) -> f32 {
  %p = arith.mulf %v, %f : f32
  return %p : f32
}

// y[i] = x[i] · FACTOR (+ b[i] with BIASED); y has 2·N + 1 elements.
func.func @scale(%x: memref<?xf32> {exec.shape = ["N"]},
                 %b: memref<?xf32> {exec.if = "BIASED", exec.shape = ["N"]},
                 %y: memref<?xf32> {exec.shape = ["2*N+1"]},
                 %T: index, %begin: index, %end: index)
    attributes {exec.kernel_params = {N = index, FACTOR = f32, BIASED = i1}} {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %n = exec.param "N" : index
  %f = exec.param "FACTOR" : f32
  %biased = exec.param "BIASED" : i1
  scf.for %i = %c0 to %n step %c1 {
    %v = memref.load %x[%i] : memref<?xf32>
    %s = func.call @times(%v, %f) : (f32, f32) -> f32
    %r = scf.if %biased -> f32 {
      %bv = memref.load %b[%i] : memref<?xf32>
      %a = arith.addf %s, %bv : f32
      scf.yield %a : f32
    } else {
      scf.yield %s : f32
    }
    memref.store %r, %y[%i] : memref<?xf32>
  }
  return
}

// Its second argument is read whatever USE says.
func.func @leaky(%x: memref<?xf32> {exec.shape = ["N"]},
                 %w: memref<?xf32> {exec.if = "USE", exec.shape = ["N"]},
                 %T: index, %begin: index, %end: index)
    attributes {exec.kernel_params = {N = index, USE = i1}} {
  %c0 = arith.constant 0 : index
  %v = memref.load %w[%c0] : memref<?xf32>
  memref.store %v, %x[%c0] : memref<?xf32>
  return
}

// One of two variants.
func.func @pick(%T: index, %begin: index, %end: index)
    attributes {exec.kernel_params = {A = i1, B = i1},
                exec.kernel_one_of = [["A", "B"]]} {
  return
}

// y = x, where x holds DT: each f32 load of x reads DT, widened.
func.func @widen(%x: memref<?xf32> {exec.element_type = "DT", exec.shape = [4]},
                 %y: memref<?xf32> {exec.shape = [4]},
                 %T: index, %begin: index, %end: index)
    attributes {exec.kernel_params = {DT = none}} {
  %c0 = arith.constant 0 : index
  %v = memref.load %x[%c0] : memref<?xf32>
  memref.store %v, %y[%c0] : memref<?xf32>
  return
}

// y = x, both of DT: the widened value is stored as loaded (an exact copy).
func.func @copy(%x: memref<?xf32> {exec.element_type = "DT", exec.shape = [4]},
                %y: memref<?xf32> {exec.element_type = "DT", exec.shape = [4]},
                %T: index, %begin: index, %end: index)
    attributes {exec.kernel_params = {DT = none}} {
  %c0 = arith.constant 0 : index
  %v = memref.load %x[%c0] : memref<?xf32>
  memref.store %v, %y[%c0] : memref<?xf32>
  return
}

// x[0] = v rounded to DT (to nearest even; a NaN becomes bf16's 0x7FC0).
func.func @narrow(%x: memref<?xf32> {exec.element_type = "DT", exec.shape = [4]},
                  %v: f32, %T: index, %begin: index, %end: index)
    attributes {exec.kernel_params = {DT = none}} {
  %c0 = arith.constant 0 : index
  memref.store %v, %x[%c0] : memref<?xf32>
  return
}

// A buffer of an element type is only loaded and stored.
func.func @viewed(%x: memref<?xf32> {exec.element_type = "DT", exec.shape = [4]},
                  %T: index, %begin: index, %end: index)
    attributes {exec.kernel_params = {DT = none}} {
  %c0 = arith.constant 0 : index
  %n = memref.dim %x, %c0 : memref<?xf32>
  %z = arith.constant 0.0 : f32
  memref.store %z, %x[%n] : memref<?xf32>
  return
}

// A generic kernel without a body.
func.func private @declared(memref<?xf32> {exec.shape = [4]}) attributes {exec.kernel_params = {}}

// Another kernel is no helper: its parameters are its own.
func.func @nested(%T: index, %begin: index, %end: index)
    attributes {exec.kernel_params = {}} {
  func.call @pick(%T, %begin, %end) : (index, index, index) -> ()
  return
}
