// Small row kernels over rows [begin, end): BIAS adds bias[c] to every row of
// `a` (router bias); ADD writes a + b to `out`; SIGMOID_SCALE multiplies row t
// of `y` by sigmoid(Σ_h x[t, h] · g[h]) (the shared expert's gate); ROUND16
// writes `a` rounded to nearest-even as bf16 (flag TO_BF16) or f16 (TO_F16)
// bits into `out` (a 16-bit GEMM's A operand; round16.mlir).
// Parameters: ROWS, COLS (and H for SIGMOID_SCALE).
//#if BIAS
func.func @${NAME}(%a: memref<${ROWS}x${COLS}xf32>, %bias: memref<${COLS}xf32>,
                   %T: index, %begin: index, %end: index) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %cC = arith.constant ${COLS} : index
  scf.for %r = %begin to %end step %c1 {
    scf.for %c = %c0 to %cC step %c1 {
      %v = memref.load %a[%r, %c] : memref<${ROWS}x${COLS}xf32>
      %b = memref.load %bias[%c] : memref<${COLS}xf32>
      %s = arith.addf %v, %b : f32
      memref.store %s, %a[%r, %c] : memref<${ROWS}x${COLS}xf32>
    } {exec.spread}
  }
  return
}
//#endif
//#if ADD
func.func @${NAME}(%a: memref<${ROWS}x${COLS}xf32>, %b: memref<${ROWS}x${COLS}xf32>,
                   %out: memref<${ROWS}x${COLS}xf32>,
                   %T: index, %begin: index, %end: index) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %cC = arith.constant ${COLS} : index
  scf.for %r = %begin to %end step %c1 {
    scf.for %c = %c0 to %cC step %c1 {
      %x = memref.load %a[%r, %c] : memref<${ROWS}x${COLS}xf32>
      %y = memref.load %b[%r, %c] : memref<${ROWS}x${COLS}xf32>
      %s = arith.addf %x, %y : f32
      memref.store %s, %out[%r, %c] : memref<${ROWS}x${COLS}xf32>
    } {exec.spread}
  }
  return
}
//#endif
//#if SIGMOID_SCALE
func.func @${NAME}(%x: memref<${ROWS}x${H}xf32>, %g: memref<1x${H}xf32>,
                   %y: memref<${ROWS}x${COLS}xf32>,
                   %T: index, %begin: index, %end: index) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %cH = arith.constant ${H} : index
  %cC = arith.constant ${COLS} : index
  %zero = arith.constant 0.0 : f32
  %one = arith.constant 1.0 : f32
  scf.for %r = %begin to %end step %c1 {
    %dot = scf.for %h = %c0 to %cH step %c1 iter_args(%acc = %zero) -> (f32) {
      %a = memref.load %x[%r, %h] : memref<${ROWS}x${H}xf32>
      %b = memref.load %g[%c0, %h] : memref<1x${H}xf32>
      %p = arith.mulf %a, %b : f32
      %s = arith.addf %acc, %p : f32
      scf.yield %s : f32
    }
    %n = arith.negf %dot : f32
    %ex = math.exp %n : f32
    %den = arith.addf %one, %ex : f32
    %sig = arith.divf %one, %den : f32
    scf.for %c = %c0 to %cC step %c1 {
      %v = memref.load %y[%r, %c] : memref<${ROWS}x${COLS}xf32>
      %s = arith.mulf %sig, %v : f32
      memref.store %s, %y[%r, %c] : memref<${ROWS}x${COLS}xf32>
    }
  }
  return
}
//#endif
//#if ROUND16
func.func @${NAME}(%a: memref<${ROWS}x${COLS}xf32>, %out: memref<${ROWS}x${COLS}xi16>,
                   %T: index, %begin: index, %end: index) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %cC = arith.constant ${COLS} : index
  scf.for %r = %begin to %end step %c1 {
    scf.for %c = %c0 to %cC step %c1 {
      %x = memref.load %a[%r, %c] : memref<${ROWS}x${COLS}xf32>
//#include round16 IN=%x OUT=%v
      memref.store %v, %out[%r, %c] : memref<${ROWS}x${COLS}xi16>
    } {exec.spread}
  }
  return
}
//#endif
