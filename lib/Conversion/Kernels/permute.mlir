// The permutations between token order and expert order. Generic kernels
// (exec.kernel_params), specialized by exec-specialize-kernel. Tests:
// test/Conversion/Kernels/{permute,unpermute}.mlir.

// moe.permute over rows [begin, end) of the RMAX expert-ordered rows:
// out[r] = x[row_token[r]], or 0 for a padding row (row_token[r] = -1). x
// and out hold DT (f32, or a 16-bit function's input and the GEMMs' 16-bit
// operand: the copy is exact).
func.func @permute(%x: memref<?x?xf32> {exec.element_type = "DT", exec.shape = ["MT", "H"]},
                   %row_token: memref<?xi32> {exec.shape = ["RMAX"]},
                   %out: memref<?x?xf32> {exec.element_type = "DT", exec.shape = ["RMAX", "H"]},
                   %T: index, %begin: index, %end: index)
    attributes {exec.kernel_params = {MT = index, RMAX = index, H = index, DT = none}} {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %cH = exec.param "H" : index
  %z32 = arith.constant 0 : i32
  %zero = arith.constant 0.0 : f32
  scf.for %r = %begin to %end step %c1 {
    %t32 = memref.load %row_token[%r] : memref<?xi32>
    %valid = arith.cmpi sge, %t32, %z32 : i32
    scf.if %valid {
      %t = arith.index_cast %t32 : i32 to index
      scf.for %h = %c0 to %cH step %c1 {
        %v = memref.load %x[%t, %h] : memref<?x?xf32>
        memref.store %v, %out[%r, %h] : memref<?x?xf32>
      } {exec.spread}
    } else {
      scf.for %h = %c0 to %cH step %c1 {
        memref.store %zero, %out[%r, %h] : memref<?x?xf32>
      } {exec.spread}
    }
  }
  return
}

// moe.unpermute for hidden columns [begin, end): out[t, h] = the sum over
// the rows r < RPT·T + RFIX with row_token[r] = t, ascending, of w[r] · y[r, h]
// (y[r, h] without WEIGHTED).
func.func @unpermute(%y: memref<?x?xf32> {exec.shape = ["RMAX", "H"]},
                     %row_token: memref<?xi32> {exec.shape = ["RMAX"]},
                     %w: memref<?xf32> {exec.if = "WEIGHTED", exec.shape = ["RMAX"]},
                     %out: memref<?x?xf32> {exec.shape = ["MT", "H"]},
                     %T: index, %begin: index, %end: index)
    attributes {exec.kernel_params = {MT = index, RMAX = index, H = index,
                                      RPT = index, RFIX = index, WEIGHTED = i1}} {
  %weighted = exec.param "WEIGHTED" : i1
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %zero = arith.constant 0.0 : f32
  %one = arith.constant 1.0 : f32
  %z32 = arith.constant 0 : i32
  %cRPT = exec.param "RPT" : index
  %cRFIX = exec.param "RFIX" : index
  %rowsT = arith.muli %T, %cRPT : index
  %rows = arith.addi %rowsT, %cRFIX : index
  scf.for %t = %c0 to %T step %c1 {
    scf.for %h = %begin to %end step %c1 {
      memref.store %zero, %out[%t, %h] : memref<?x?xf32>
    }
  }
  scf.for %r = %c0 to %rows step %c1 {
    %t32 = memref.load %row_token[%r] : memref<?xi32>
    %valid = arith.cmpi sge, %t32, %z32 : i32
    scf.if %valid {
      %t = arith.index_cast %t32 : i32 to index
      %wv = scf.if %weighted -> f32 {
        %l = memref.load %w[%r] : memref<?xf32>
        scf.yield %l : f32
      } else {
        scf.yield %one : f32
      }
      scf.for %h = %begin to %end step %c1 {
        %o = memref.load %out[%t, %h] : memref<?x?xf32>
        %v = memref.load %y[%r, %h] : memref<?x?xf32>
        %p = scf.if %weighted -> f32 {
          %m = arith.mulf %wv, %v : f32
          scf.yield %m : f32
        } else {
          scf.yield %v : f32
        }
        %s = arith.addf %o, %p : f32
        memref.store %s, %out[%t, %h] : memref<?x?xf32>
      }
    }
  }
  return
}
