// Dense scores for tokens [begin, end): out[t, e] = SCALE · score(logits[t, e])
// (softmax over the E experts, sigmoid, or none), and, with INDICES,
// idx[t, e] = e (moe.mixture). Parameters: MT, E, SCALE; flags SOFTMAX |
// SIGMOID | NONE, INDICES, SCALED.
func.func @${NAME}(%logits: memref<${MT}x${E}xf32>, %out: memref<${MT}x${E}xf32>,
//#if INDICES
                   %idx: memref<${MT}x${E}xi32>,
//#endif
                   %T: index, %begin: index, %end: index) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %cE = arith.constant ${E} : index
  %zero = arith.constant 0.0 : f32
  %one = arith.constant 1.0 : f32
  %ninf = arith.constant 0xFF800000 : f32
  scf.for %t = %begin to %end step %c1 {
//#if SOFTMAX
    %m = scf.for %e = %c0 to %cE step %c1 iter_args(%acc = %ninf) -> (f32) {
      %v = memref.load %logits[%t, %e] : memref<${MT}x${E}xf32>
      %mx = arith.maximumf %acc, %v : f32
      scf.yield %mx : f32
    }
    %sum = scf.for %e = %c0 to %cE step %c1 iter_args(%acc = %zero) -> (f32) {
      %v = memref.load %logits[%t, %e] : memref<${MT}x${E}xf32>
      %d = arith.subf %v, %m : f32
      %x = math.exp %d : f32
      memref.store %x, %out[%t, %e] : memref<${MT}x${E}xf32>
      %a = arith.addf %acc, %x : f32
      scf.yield %a : f32
    }
//#endif
    scf.for %e = %c0 to %cE step %c1 {
//#if SOFTMAX
      %x = memref.load %out[%t, %e] : memref<${MT}x${E}xf32>
      %p = arith.divf %x, %sum : f32
//#endif
//#if SIGMOID
      %v = memref.load %logits[%t, %e] : memref<${MT}x${E}xf32>
      %nv = arith.negf %v : f32
      %ex = math.exp %nv : f32
      %den = arith.addf %one, %ex : f32
      %p = arith.divf %one, %den : f32
//#endif
//#if NONE
      %p = memref.load %logits[%t, %e] : memref<${MT}x${E}xf32>
//#endif
//#if SCALED
      %scale = arith.constant ${SCALE} : f32
      %ps = arith.mulf %p, %scale : f32
      memref.store %ps, %out[%t, %e] : memref<${MT}x${E}xf32>
//#else
      memref.store %p, %out[%t, %e] : memref<${MT}x${E}xf32>
//#endif
//#if INDICES
      %e32 = arith.index_cast %e : index to i32
      memref.store %e32, %idx[%t, %e] : memref<${MT}x${E}xi32>
//#endif
    }
  }
  return
}
