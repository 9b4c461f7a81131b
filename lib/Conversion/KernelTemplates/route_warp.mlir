// Routing for the CUDA target, one warp (32 lanes) per token: the semantics
// of route.mlir without group-limited routing. Lane l holds experts
// l, l + 32, ... (EPL = ceil(E / 32) each); the softmax's max and sum and each
// of the k arg-max steps are butterfly reductions over the warp's shuffles
// (ties to the lower expert, as on the CPU). Lane 0 writes the weights and
// indices. The sums run in a different order than on the CPU, so results may
// differ from the CPU target's in the last bits.
// Launched with exec.lanes = 32: every lane of a warp runs the same
// [begin, end) (the CUDA wrapper gives a warp one token).
// Parameters: E, K, MT, EPL, EPS, SCALE; flags SOFTMAX | SIGMOID | NONE,
// HAS_BIAS, RENORM, SOFTMAX_AFTER, SCALED.
func.func @${NAME}(%logits: memref<${MT}x${E}xf32>,
//#if HAS_BIAS
                   %corr: memref<${E}xf32>,
//#endif
                   %w: memref<${MT}x${K}xf32>, %idx: memref<${MT}x${K}xi32>,
                   %T: index, %begin: index, %end: index)
    attributes {exec.lanes = 32 : i64} {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c5 = arith.constant 5 : index
  %c32 = arith.constant 32 : index
  %cE = arith.constant ${E} : index
  %cK = arith.constant ${K} : index
  %cEPL = arith.constant ${EPL} : index
  %i16 = arith.constant 16 : i32
  %width = arith.constant 32 : i32
  %im1 = arith.constant -1 : i32
  %zero = arith.constant 0.0 : f32
  %one = arith.constant 1.0 : f32
  %ninf = arith.constant 0xFF800000 : f32
  %true = arith.constant true
  %s = memref.alloca() : memref<${EPL}xf32>
  %q = memref.alloca() : memref<${EPL}xf32>
  %taken = memref.alloca() : memref<${EPL}xi1>
  %lane = gpu.lane_id
  %lane0 = arith.cmpi eq, %lane, %c0 : index
  scf.for %t = %begin to %end step %c1 {
//#if SOFTMAX
    %ml = scf.for %j = %c0 to %cEPL step %c1 iter_args(%acc = %ninf) -> (f32) {
      %j32 = arith.muli %j, %c32 : index
      %e = arith.addi %j32, %lane : index
      %in = arith.cmpi ult, %e, %cE : index
      %r = scf.if %in -> (f32) {
        %v = memref.load %logits[%t, %e] : memref<${MT}x${E}xf32>
        %mx = arith.maximumf %acc, %v : f32
        scf.yield %mx : f32
      } else {
        scf.yield %acc : f32
      }
      scf.yield %r : f32
    }
    %m = scf.for %st = %c0 to %c5 step %c1 iter_args(%acc = %ml) -> (f32) {
      %sh = arith.index_cast %st : index to i32
      %off = arith.shrui %i16, %sh : i32
      %o, %ok = gpu.shuffle xor %acc, %off, %width : f32
      %mx = arith.maximumf %acc, %o : f32
      scf.yield %mx : f32
    }
    %sl = scf.for %j = %c0 to %cEPL step %c1 iter_args(%acc = %zero) -> (f32) {
      %j32 = arith.muli %j, %c32 : index
      %e = arith.addi %j32, %lane : index
      %in = arith.cmpi ult, %e, %cE : index
      %r = scf.if %in -> (f32) {
        %v = memref.load %logits[%t, %e] : memref<${MT}x${E}xf32>
        %d = arith.subf %v, %m : f32
        %x = math.exp %d : f32
        memref.store %x, %s[%j] : memref<${EPL}xf32>
        %a = arith.addf %acc, %x : f32
        scf.yield %a : f32
      } else {
        scf.yield %acc : f32
      }
      scf.yield %r : f32
    }
    %sum = scf.for %st = %c0 to %c5 step %c1 iter_args(%acc = %sl) -> (f32) {
      %sh = arith.index_cast %st : index to i32
      %off = arith.shrui %i16, %sh : i32
      %o, %ok = gpu.shuffle xor %acc, %off, %width : f32
      %a = arith.addf %acc, %o : f32
      scf.yield %a : f32
    }
//#endif
    scf.for %j = %c0 to %cEPL step %c1 {
      %j32 = arith.muli %j, %c32 : index
      %e = arith.addi %j32, %lane : index
      %in = arith.cmpi ult, %e, %cE : index
      scf.if %in {
//#if SOFTMAX
        %x = memref.load %s[%j] : memref<${EPL}xf32>
        %sv = arith.divf %x, %sum : f32
//#endif
//#if SIGMOID
        %v = memref.load %logits[%t, %e] : memref<${MT}x${E}xf32>
        %nv = arith.negf %v : f32
        %ex = math.exp %nv : f32
        %den = arith.addf %one, %ex : f32
        %sv = arith.divf %one, %den : f32
//#endif
//#if NONE
        %sv = memref.load %logits[%t, %e] : memref<${MT}x${E}xf32>
//#endif
        memref.store %sv, %s[%j] : memref<${EPL}xf32>
//#if HAS_BIAS
        %bv = memref.load %corr[%e] : memref<${E}xf32>
        %qv = arith.addf %sv, %bv : f32
        memref.store %qv, %q[%j] : memref<${EPL}xf32>
//#else
        memref.store %sv, %q[%j] : memref<${EPL}xf32>
//#endif
        %false = arith.constant false
        memref.store %false, %taken[%j] : memref<${EPL}xi1>
      } else {
        memref.store %true, %taken[%j] : memref<${EPL}xi1>
      }
    }
    %wsum = scf.for %kk = %c0 to %cK step %c1 iter_args(%acc = %zero) -> (f32) {
      %own:3 = scf.for %j = %c0 to %cEPL step %c1 iter_args(%bq = %ninf, %bs = %zero, %bi = %im1) -> (f32, f32, i32) {
        %j32 = arith.muli %j, %c32 : index
        %e = arith.addi %j32, %lane : index
        %ei = arith.index_cast %e : index to i32
        %tk = memref.load %taken[%j] : memref<${EPL}xi1>
        %v = memref.load %q[%j] : memref<${EPL}xf32>
        %sv = memref.load %s[%j] : memref<${EPL}xf32>
        %gt = arith.cmpf ogt, %v, %bq : f32
        %first = arith.cmpi eq, %bi, %im1 : i32
        %better = arith.ori %gt, %first : i1
        %free = arith.xori %tk, %true : i1
        %take = arith.andi %free, %better : i1
        %nq = arith.select %take, %v, %bq : f32
        %ns = arith.select %take, %sv, %bs : f32
        %ni = arith.select %take, %ei, %bi : i32
        scf.yield %nq, %ns, %ni : f32, f32, i32
      }
      %best:3 = scf.for %st = %c0 to %c5 step %c1 iter_args(%bq = %own#0, %bs = %own#1, %bi = %own#2) -> (f32, f32, i32) {
        %sh = arith.index_cast %st : index to i32
        %off = arith.shrui %i16, %sh : i32
        %oq, %ok1 = gpu.shuffle xor %bq, %off, %width : f32
        %os, %ok2 = gpu.shuffle xor %bs, %off, %width : f32
        %oi, %ok3 = gpu.shuffle xor %bi, %off, %width : i32
        %ohas = arith.cmpi ne, %oi, %im1 : i32
        %mnone = arith.cmpi eq, %bi, %im1 : i32
        %gt = arith.cmpf ogt, %oq, %bq : f32
        %eq = arith.cmpf oeq, %oq, %bq : f32
        %lower = arith.cmpi slt, %oi, %bi : i32
        %tie = arith.andi %eq, %lower : i1
        %wins = arith.ori %gt, %tie : i1
        %better = arith.ori %mnone, %wins : i1
        %take = arith.andi %ohas, %better : i1
        %nq = arith.select %take, %oq, %bq : f32
        %ns = arith.select %take, %os, %bs : f32
        %ni = arith.select %take, %oi, %bi : i32
        scf.yield %nq, %ns, %ni : f32, f32, i32
      }
      %bidx = arith.index_cast %best#2 : i32 to index
      %owner = arith.remui %bidx, %c32 : index
      %mine = arith.cmpi eq, %owner, %lane : index
      scf.if %mine {
        %bj = arith.divui %bidx, %c32 : index
        memref.store %true, %taken[%bj] : memref<${EPL}xi1>
      }
//#if SOFTMAX_AFTER
      %wv = memref.load %logits[%t, %bidx] : memref<${MT}x${E}xf32>
//#else
      %wv = arith.select %true, %best#1, %zero : f32
//#endif
      scf.if %lane0 {
        memref.store %best#2, %idx[%t, %kk] : memref<${MT}x${K}xi32>
        memref.store %wv, %w[%t, %kk] : memref<${MT}x${K}xf32>
      }
      %a = arith.addf %acc, %wv : f32
      scf.yield %a : f32
    }
    scf.if %lane0 {
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
  }
  return
}
