// Kernels for the exec.spread checks of codegen-cuda.mlir (split input).
// @scale: a row kernel whose column loop (1000 iterations) is spread: it gets
// 128 lanes: the least power of two from 32 with lanes · 8 >= 1000.
module {
  module @kernels {
    func.func @scale(%a: memref<4x1000xf32>, %T: index, %begin: index, %end: index) {
      %c0 = arith.constant 0 : index
      %c1 = arith.constant 1 : index
      %cC = arith.constant 1000 : index
      %two = arith.constant 2.0 : f32
      scf.for %r = %begin to %end step %c1 {
        scf.for %c = %c0 to %cC step %c1 {
          %v = memref.load %a[%r, %c] : memref<4x1000xf32>
          %s = arith.mulf %v, %two : f32
          memref.store %s, %a[%r, %c] : memref<4x1000xf32>
        } {exec.spread}
      }
      return
    }
  }
}

// -----

// A write outside the spread loop would be made by every lane.
module {
  module @kernels {
    func.func @stray(%a: memref<4x64xf32>, %T: index, %begin: index, %end: index) {
      %c0 = arith.constant 0 : index
      %c1 = arith.constant 1 : index
      %cC = arith.constant 64 : index
      %zero = arith.constant 0.0 : f32
      scf.for %r = %begin to %end step %c1 {
        memref.store %zero, %a[%r, %c0] : memref<4x64xf32>
        scf.for %c = %c1 to %cC step %c1 {
          memref.store %zero, %a[%r, %c] : memref<4x64xf32>
        } {exec.spread}
      }
      return
    }
  }
}

// -----

// exec.lanes (a warp per item) and exec.spread loops do not mix.
module {
  module @kernels {
    func.func @both(%a: memref<4x64xf32>, %T: index, %begin: index, %end: index)
        attributes {exec.lanes = 32 : i64} {
      %c0 = arith.constant 0 : index
      %c1 = arith.constant 1 : index
      %cC = arith.constant 64 : index
      %zero = arith.constant 0.0 : f32
      scf.for %r = %begin to %end step %c1 {
        scf.for %c = %c0 to %cC step %c1 {
          memref.store %zero, %a[%r, %c] : memref<4x64xf32>
        } {exec.spread}
      }
      return
    }
  }
}
