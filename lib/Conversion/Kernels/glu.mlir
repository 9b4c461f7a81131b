// moe.glu over rows [begin, end): out = act(gate) * up, in place in `gate`
// (out may alias gate). Without GATED: out = act(up) in place. With ROUND16
// the result goes instead to `out`, rounded to bf16 (TO_BF16) or f16 (TO_F16)
// bits (round16.mlir): the A operand of a 16-bit down projection, with no
// f32 pass in between.
// Parameters: ROWS (buffer rows), F, ALPHA, LIMIT; flags GATED and one of
// SILU | GELU | GELU_TANH | RELU | CLAMPED; ROUND16 with TO_BF16 | TO_F16.
func.func @${NAME}(
//#if GATED
                   %gate: memref<${ROWS}x${F}xf32>,
//#endif
                   %up: memref<${ROWS}x${F}xf32>,
//#if ROUND16
                   %out: memref<${ROWS}x${F}xi16>,
//#endif
                   %T: index, %begin: index, %end: index) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %cF = arith.constant ${F} : index
  %zero = arith.constant 0.0 : f32
  %one = arith.constant 1.0 : f32
  %half = arith.constant 0.5 : f32
  scf.for %r = %begin to %end step %c1 {
    scf.for %f = %c0 to %cF step %c1 {
//#if GATED
      %x = memref.load %gate[%r, %f] : memref<${ROWS}x${F}xf32>
//#else
      %x = memref.load %up[%r, %f] : memref<${ROWS}x${F}xf32>
//#endif
//#if SILU
      %nx = arith.negf %x : f32
      %ex = math.exp %nx : f32
      %den = arith.addf %one, %ex : f32
      %a = arith.divf %x, %den : f32
//#endif
//#if GELU
      %rsqrt2 = arith.constant 0.707106769 : f32
      %xs = arith.mulf %x, %rsqrt2 : f32
      %er = math.erf %xs : f32
      %p1 = arith.addf %one, %er : f32
      %hx = arith.mulf %half, %x : f32
      %a = arith.mulf %hx, %p1 : f32
//#endif
//#if GELU_TANH
      %k0 = arith.constant 0.797884583 : f32
      %k1 = arith.constant 0.044715 : f32
      %x2 = arith.mulf %x, %x : f32
      %x3 = arith.mulf %x2, %x : f32
      %kx3 = arith.mulf %k1, %x3 : f32
      %in = arith.addf %x, %kx3 : f32
      %arg = arith.mulf %k0, %in : f32
      %th = math.tanh %arg : f32
      %p1 = arith.addf %one, %th : f32
      %hx = arith.mulf %half, %x : f32
      %a = arith.mulf %hx, %p1 : f32
//#endif
//#if RELU
      %a = arith.maximumf %x, %zero : f32
//#endif
//#if CLAMPED
      %limit = arith.constant ${LIMIT} : f32
      %nlimit = arith.constant ${NLIMIT} : f32
      %alpha = arith.constant ${ALPHA} : f32
      %g = arith.minimumf %x, %limit : f32
      %ag = arith.mulf %alpha, %g : f32
      %nag = arith.negf %ag : f32
      %ex = math.exp %nag : f32
      %den = arith.addf %one, %ex : f32
      %sig = arith.divf %one, %den : f32
      %a = arith.mulf %g, %sig : f32
//#endif
//#if GATED
      %u = memref.load %up[%r, %f] : memref<${ROWS}x${F}xf32>
//#if CLAMPED
      %ulo = arith.maximumf %u, %nlimit : f32
      %uc = arith.minimumf %ulo, %limit : f32
      %u1 = arith.addf %uc, %one : f32
      %o = arith.mulf %u1, %a : f32
//#else
      %o = arith.mulf %a, %u : f32
//#endif
//#if ROUND16
//#include round16 IN=%o OUT=%o16
      memref.store %o16, %out[%r, %f] : memref<${ROWS}x${F}xi16>
//#else
      memref.store %o, %gate[%r, %f] : memref<${ROWS}x${F}xf32>
//#endif
//#else
//#if ROUND16
//#include round16 IN=%a OUT=%a16
      memref.store %a16, %out[%r, %f] : memref<${ROWS}x${F}xi16>
//#else
      memref.store %a, %up[%r, %f] : memref<${ROWS}x${F}xf32>
//#endif
//#endif
    } {exec.spread}
  }
  return
}
