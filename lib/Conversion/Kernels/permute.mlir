// moe.permute over rows [begin, end): out[r] = x[row_token[r]] or 0.
// Parameters: MT, RMAX, H.
func.func @${NAME}(%x: memref<${MT}x${H}xf32>, %row_token: memref<${RMAX}xi32>,
                   %out: memref<${RMAX}x${H}xf32>,
                   %T: index, %begin: index, %end: index) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %cH = arith.constant ${H} : index
  %z32 = arith.constant 0 : i32
  %zero = arith.constant 0.0 : f32
  scf.for %r = %begin to %end step %c1 {
    %t32 = memref.load %row_token[%r] : memref<${RMAX}xi32>
    %valid = arith.cmpi sge, %t32, %z32 : i32
    scf.if %valid {
      %t = arith.index_cast %t32 : i32 to index
      scf.for %h = %c0 to %cH step %c1 {
        %v = memref.load %x[%t, %h] : memref<${MT}x${H}xf32>
        memref.store %v, %out[%r, %h] : memref<${RMAX}x${H}xf32>
      } {exec.spread}
    } else {
      scf.for %h = %c0 to %cH step %c1 {
        memref.store %zero, %out[%r, %h] : memref<${RMAX}x${H}xf32>
      } {exec.spread}
    }
  }
  return
}
