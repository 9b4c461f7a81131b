// moe.unpermute for hidden columns [begin, end): out[t, h] = Σ over rows r
// with row_token[r] = t, ascending, of w[r] · y[r, h] (w = 1 without WEIGHTED).
// Parameters: MT, RMAX, H, RPT, RFIX; flag WEIGHTED.
func.func @${NAME}(%y: memref<${RMAX}x${H}xf32>, %row_token: memref<${RMAX}xi32>,
//#if WEIGHTED
                   %w: memref<${RMAX}xf32>,
//#endif
                   %out: memref<${MT}x${H}xf32>,
                   %T: index, %begin: index, %end: index) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %zero = arith.constant 0.0 : f32
  %z32 = arith.constant 0 : i32
  %cRPT = arith.constant ${RPT} : index
  %cRFIX = arith.constant ${RFIX} : index
  %rowsT = arith.muli %T, %cRPT : index
  %rows = arith.addi %rowsT, %cRFIX : index
  scf.for %t = %c0 to %T step %c1 {
    scf.for %h = %begin to %end step %c1 {
      memref.store %zero, %out[%t, %h] : memref<${MT}x${H}xf32>
    }
  }
  scf.for %r = %c0 to %rows step %c1 {
    %t32 = memref.load %row_token[%r] : memref<${RMAX}xi32>
    %valid = arith.cmpi sge, %t32, %z32 : i32
    scf.if %valid {
      %t = arith.index_cast %t32 : i32 to index
//#if WEIGHTED
      %wv = memref.load %w[%r] : memref<${RMAX}xf32>
//#endif
      scf.for %h = %begin to %end step %c1 {
        %o = memref.load %out[%t, %h] : memref<${MT}x${H}xf32>
        %v = memref.load %y[%r, %h] : memref<${RMAX}x${H}xf32>
//#if WEIGHTED
        %p = arith.mulf %wv, %v : f32
        %s = arith.addf %o, %p : f32
//#else
        %s = arith.addf %o, %v : f32
//#endif
        memref.store %s, %out[%t, %h] : memref<${MT}x${H}xf32>
      }
    }
  }
  return
}
