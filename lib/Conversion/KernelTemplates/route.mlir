// Routing of one token per iteration: scores (softmax / sigmoid / none),
// selection scores with the correction bias, group-limited masking, top-k
// (descending, ties to the lower expert), weights (the unbiased scores or a
// softmax over the winners' logits), renormalization and scaling.
// Parameters: E, K, MT, EPS, SCALE, NG (groups), GS (group size), TG (groups
// kept); flags SOFTMAX | SIGMOID | NONE, HAS_BIAS, GROUPED, TOP2, RENORM,
// SOFTMAX_AFTER, SCALED.
func.func @${NAME}(%logits: memref<${MT}x${E}xf32>,
//#if HAS_BIAS
                   %corr: memref<${E}xf32>,
//#endif
                   %w: memref<${MT}x${K}xf32>, %idx: memref<${MT}x${K}xi32>,
                   %T: index, %begin: index, %end: index) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %cE = arith.constant ${E} : index
  %cK = arith.constant ${K} : index
  %cm1 = arith.constant -1 : index
  %zero = arith.constant 0.0 : f32
  %one = arith.constant 1.0 : f32
  %ninf = arith.constant 0xFF800000 : f32
  %false = arith.constant false
  %true = arith.constant true
  %s = memref.alloca() : memref<${E}xf32>
  %q = memref.alloca() : memref<${E}xf32>
  %taken = memref.alloca() : memref<${E}xi1>
//#if GROUPED
  %cNG = arith.constant ${NG} : index
  %cGS = arith.constant ${GS} : index
  %cTG = arith.constant ${TG} : index
  %gs = memref.alloca() : memref<${NG}xf32>
  %gkept = memref.alloca() : memref<${NG}xi1>
//#endif
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
      memref.store %x, %s[%e] : memref<${E}xf32>
      %a = arith.addf %acc, %x : f32
      scf.yield %a : f32
    }
    scf.for %e = %c0 to %cE step %c1 {
      %x = memref.load %s[%e] : memref<${E}xf32>
      %p = arith.divf %x, %sum : f32
      memref.store %p, %s[%e] : memref<${E}xf32>
    }
//#endif
//#if SIGMOID
    scf.for %e = %c0 to %cE step %c1 {
      %v = memref.load %logits[%t, %e] : memref<${MT}x${E}xf32>
      %nv = arith.negf %v : f32
      %ex = math.exp %nv : f32
      %den = arith.addf %one, %ex : f32
      %p = arith.divf %one, %den : f32
      memref.store %p, %s[%e] : memref<${E}xf32>
    }
//#endif
//#if NONE
    scf.for %e = %c0 to %cE step %c1 {
      %v = memref.load %logits[%t, %e] : memref<${MT}x${E}xf32>
      memref.store %v, %s[%e] : memref<${E}xf32>
    }
//#endif
    scf.for %e = %c0 to %cE step %c1 {
      %sv = memref.load %s[%e] : memref<${E}xf32>
//#if HAS_BIAS
      %bv = memref.load %corr[%e] : memref<${E}xf32>
      %qv = arith.addf %sv, %bv : f32
      memref.store %qv, %q[%e] : memref<${E}xf32>
//#else
      memref.store %sv, %q[%e] : memref<${E}xf32>
//#endif
      memref.store %false, %taken[%e] : memref<${E}xi1>
    }
//#if GROUPED
    scf.for %g = %c0 to %cNG step %c1 {
      %base = arith.muli %g, %cGS : index
      %top:2 = scf.for %i = %c0 to %cGS step %c1 iter_args(%m1 = %ninf, %m2 = %ninf) -> (f32, f32) {
        %e = arith.addi %base, %i : index
        %v = memref.load %q[%e] : memref<${E}xf32>
        %gt1 = arith.cmpf ogt, %v, %m1 : f32
        %gt2 = arith.cmpf ogt, %v, %m2 : f32
        %n1 = arith.select %gt1, %v, %m1 : f32
        %n2a = arith.select %gt2, %v, %m2 : f32
        %n2 = arith.select %gt1, %m1, %n2a : f32
        scf.yield %n1, %n2 : f32, f32
      }
//#if TOP2
      %score = arith.addf %top#0, %top#1 : f32
      memref.store %score, %gs[%g] : memref<${NG}xf32>
//#else
      memref.store %top#0, %gs[%g] : memref<${NG}xf32>
//#endif
      memref.store %false, %gkept[%g] : memref<${NG}xi1>
    }
    scf.for %j = %c0 to %cTG step %c1 {
      %best:2 = scf.for %g = %c0 to %cNG step %c1 iter_args(%bv = %ninf, %bi = %cm1) -> (f32, index) {
        %tk = memref.load %gkept[%g] : memref<${NG}xi1>
        %v = memref.load %gs[%g] : memref<${NG}xf32>
        %gt = arith.cmpf ogt, %v, %bv : f32
        %first = arith.cmpi eq, %bi, %cm1 : index
        %better = arith.ori %gt, %first : i1
        %free = arith.xori %tk, %true : i1
        %take = arith.andi %free, %better : i1
        %nv = arith.select %take, %v, %bv : f32
        %ni = arith.select %take, %g, %bi : index
        scf.yield %nv, %ni : f32, index
      }
      memref.store %true, %gkept[%best#1] : memref<${NG}xi1>
    }
    scf.for %e = %c0 to %cE step %c1 {
      %g = arith.divui %e, %cGS : index
      %keep = memref.load %gkept[%g] : memref<${NG}xi1>
      %drop = arith.xori %keep, %true : i1
      memref.store %drop, %taken[%e] : memref<${E}xi1>
    }
//#endif
    %wsum = scf.for %j = %c0 to %cK step %c1 iter_args(%acc = %zero) -> (f32) {
      %best:2 = scf.for %e = %c0 to %cE step %c1 iter_args(%bv = %ninf, %bi = %cm1) -> (f32, index) {
        %tk = memref.load %taken[%e] : memref<${E}xi1>
        %v = memref.load %q[%e] : memref<${E}xf32>
        %gt = arith.cmpf ogt, %v, %bv : f32
        %first = arith.cmpi eq, %bi, %cm1 : index
        %better = arith.ori %gt, %first : i1
        %free = arith.xori %tk, %true : i1
        %take = arith.andi %free, %better : i1
        %nv = arith.select %take, %v, %bv : f32
        %ni = arith.select %take, %e, %bi : index
        scf.yield %nv, %ni : f32, index
      }
      memref.store %true, %taken[%best#1] : memref<${E}xi1>
      %i32 = arith.index_cast %best#1 : index to i32
      memref.store %i32, %idx[%t, %j] : memref<${MT}x${K}xi32>
//#if SOFTMAX_AFTER
      %wv = memref.load %logits[%t, %best#1] : memref<${MT}x${E}xf32>
//#else
      %wv = memref.load %s[%best#1] : memref<${E}xf32>
//#endif
      memref.store %wv, %w[%t, %j] : memref<${MT}x${K}xf32>
      %a = arith.addf %acc, %wv : f32
      scf.yield %a : f32
    }
//#if SOFTMAX_AFTER
    %mk = scf.for %j = %c0 to %cK step %c1 iter_args(%acc = %ninf) -> (f32) {
      %v = memref.load %w[%t, %j] : memref<${MT}x${K}xf32>
      %mx = arith.maximumf %acc, %v : f32
      scf.yield %mx : f32
    }
    %sk = scf.for %j = %c0 to %cK step %c1 iter_args(%acc = %zero) -> (f32) {
      %v = memref.load %w[%t, %j] : memref<${MT}x${K}xf32>
      %d = arith.subf %v, %mk : f32
      %x = math.exp %d : f32
      memref.store %x, %w[%t, %j] : memref<${MT}x${K}xf32>
      %a = arith.addf %acc, %x : f32
      scf.yield %a : f32
    }
    scf.for %j = %c0 to %cK step %c1 {
      %x = memref.load %w[%t, %j] : memref<${MT}x${K}xf32>
      %p = arith.divf %x, %sk : f32
      memref.store %p, %w[%t, %j] : memref<${MT}x${K}xf32>
    }
//#endif
//#if RENORM
    %eps = arith.constant ${EPS} : f32
    %den = arith.addf %wsum, %eps : f32
    scf.for %j = %c0 to %cK step %c1 {
      %x = memref.load %w[%t, %j] : memref<${MT}x${K}xf32>
      %p = arith.divf %x, %den : f32
      memref.store %p, %w[%t, %j] : memref<${MT}x${K}xf32>
    }
//#endif
//#if SCALED
    %scale = arith.constant ${SCALE} : f32
    scf.for %j = %c0 to %cK step %c1 {
      %x = memref.load %w[%t, %j] : memref<${MT}x${K}xf32>
      %p = arith.mulf %x, %scale : f32
      memref.store %p, %w[%t, %j] : memref<${MT}x${K}xf32>
    }
//#endif
  }
  return
}
