// Token-choice routing. Generic kernels (exec.kernel_params), specialized by
// exec-specialize-kernel. Tests: test/Conversion/Kernels/{route,
// route_warp}.mlir.

// Routing of one token per iteration: scores (softmax / sigmoid / none:
// exactly one), selection scores with the correction bias (HAS_BIAS),
// group-limited masking (GROUPED: NG groups of GS experts, the TG best kept,
// a group's score its top-2 sum with TOP2, else its max), top-k (descending,
// ties to the lower expert), weights (the unbiased scores, or with
// SOFTMAX_AFTER a softmax over the winners' logits), renormalization by
// their sum + EPS (RENORM) and scaling by SCALE (SCALED).
func.func @route(%logits: memref<?x?xf32> {exec.shape = ["MT", "E"]},
                 %corr: memref<?xf32> {exec.if = "HAS_BIAS", exec.shape = ["E"]},
                 %w: memref<?x?xf32> {exec.shape = ["MT", "K"]},
                 %idx: memref<?x?xi32> {exec.shape = ["MT", "K"]},
                 %T: index, %begin: index, %end: index)
    attributes {exec.kernel_params = {E = index, K = index, MT = index, EPS = f32,
                                      SCALE = f32, NG = index, GS = index, TG = index,
                                      SOFTMAX = i1, SIGMOID = i1, NONE = i1,
                                      HAS_BIAS = i1, GROUPED = i1, TOP2 = i1,
                                      RENORM = i1, SOFTMAX_AFTER = i1, SCALED = i1},
                exec.kernel_one_of = [["SOFTMAX", "SIGMOID", "NONE"]]} {
  %softmax = exec.param "SOFTMAX" : i1
  %sigmoid = exec.param "SIGMOID" : i1
  %none = exec.param "NONE" : i1
  %hasBias = exec.param "HAS_BIAS" : i1
  %grouped = exec.param "GROUPED" : i1
  %top2 = exec.param "TOP2" : i1
  %renorm = exec.param "RENORM" : i1
  %softmaxAfter = exec.param "SOFTMAX_AFTER" : i1
  %scaled = exec.param "SCALED" : i1
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %cE = exec.param "E" : index
  %cK = exec.param "K" : index
  %cm1 = arith.constant -1 : index
  %zero = arith.constant 0.0 : f32
  %one = arith.constant 1.0 : f32
  %ninf = arith.constant 0xFF800000 : f32
  %false = arith.constant false
  %true = arith.constant true
  %s = memref.alloca(%cE) : memref<?xf32>
  %q = memref.alloca(%cE) : memref<?xf32>
  %taken = memref.alloca(%cE) : memref<?xi1>
  %cNG = exec.param "NG" : index
  %cGS = exec.param "GS" : index
  %cTG = exec.param "TG" : index
  %gs = memref.alloca(%cNG) : memref<?xf32>
  %gkept = memref.alloca(%cNG) : memref<?xi1>
  scf.for %t = %begin to %end step %c1 {
    scf.if %softmax {
    %m = scf.for %e = %c0 to %cE step %c1 iter_args(%acc = %ninf) -> (f32) {
      %v = memref.load %logits[%t, %e] : memref<?x?xf32>
      %mx = arith.maximumf %acc, %v : f32
      scf.yield %mx : f32
    }
    %sum = scf.for %e = %c0 to %cE step %c1 iter_args(%acc = %zero) -> (f32) {
      %v = memref.load %logits[%t, %e] : memref<?x?xf32>
      %d = arith.subf %v, %m : f32
      %x = math.exp %d : f32
      memref.store %x, %s[%e] : memref<?xf32>
      %a = arith.addf %acc, %x : f32
      scf.yield %a : f32
    }
    scf.for %e = %c0 to %cE step %c1 {
      %x = memref.load %s[%e] : memref<?xf32>
      %p = arith.divf %x, %sum : f32
      memref.store %p, %s[%e] : memref<?xf32>
    }
    }
    scf.if %sigmoid {
    scf.for %e = %c0 to %cE step %c1 {
      %v = memref.load %logits[%t, %e] : memref<?x?xf32>
      %nv = arith.negf %v : f32
      %ex = math.exp %nv : f32
      %den = arith.addf %one, %ex : f32
      %p = arith.divf %one, %den : f32
      memref.store %p, %s[%e] : memref<?xf32>
    }
    }
    scf.if %none {
    scf.for %e = %c0 to %cE step %c1 {
      %v = memref.load %logits[%t, %e] : memref<?x?xf32>
      memref.store %v, %s[%e] : memref<?xf32>
    }
    }
    scf.for %e = %c0 to %cE step %c1 {
      %sv = memref.load %s[%e] : memref<?xf32>
      %qv = scf.if %hasBias -> f32 {
        %bv = memref.load %corr[%e] : memref<?xf32>
        %biased = arith.addf %sv, %bv : f32
        scf.yield %biased : f32
      } else {
        scf.yield %sv : f32
      }
      memref.store %qv, %q[%e] : memref<?xf32>
      memref.store %false, %taken[%e] : memref<?xi1>
    }
    scf.if %grouped {
    scf.for %g = %c0 to %cNG step %c1 {
      %base = arith.muli %g, %cGS : index
      %top:2 = scf.for %i = %c0 to %cGS step %c1 iter_args(%m1 = %ninf, %m2 = %ninf) -> (f32, f32) {
        %e = arith.addi %base, %i : index
        %v = memref.load %q[%e] : memref<?xf32>
        %gt1 = arith.cmpf ogt, %v, %m1 : f32
        %gt2 = arith.cmpf ogt, %v, %m2 : f32
        %n1 = arith.select %gt1, %v, %m1 : f32
        %n2a = arith.select %gt2, %v, %m2 : f32
        %n2 = arith.select %gt1, %m1, %n2a : f32
        scf.yield %n1, %n2 : f32, f32
      }
      %score = scf.if %top2 -> f32 {
        %sum2 = arith.addf %top#0, %top#1 : f32
        scf.yield %sum2 : f32
      } else {
        scf.yield %top#0 : f32
      }
      memref.store %score, %gs[%g] : memref<?xf32>
      memref.store %false, %gkept[%g] : memref<?xi1>
    }
    scf.for %j = %c0 to %cTG step %c1 {
      %best:2 = scf.for %g = %c0 to %cNG step %c1 iter_args(%bv = %ninf, %bi = %cm1) -> (f32, index) {
        %tk = memref.load %gkept[%g] : memref<?xi1>
        %v = memref.load %gs[%g] : memref<?xf32>
        %gt = arith.cmpf ogt, %v, %bv : f32
        %first = arith.cmpi eq, %bi, %cm1 : index
        %better = arith.ori %gt, %first : i1
        %free = arith.xori %tk, %true : i1
        %take = arith.andi %free, %better : i1
        %nv = arith.select %take, %v, %bv : f32
        %ni = arith.select %take, %g, %bi : index
        scf.yield %nv, %ni : f32, index
      }
      memref.store %true, %gkept[%best#1] : memref<?xi1>
    }
    scf.for %e = %c0 to %cE step %c1 {
      %g = arith.divui %e, %cGS : index
      %keep = memref.load %gkept[%g] : memref<?xi1>
      %drop = arith.xori %keep, %true : i1
      memref.store %drop, %taken[%e] : memref<?xi1>
    }
    }
    %wsum = scf.for %j = %c0 to %cK step %c1 iter_args(%acc = %zero) -> (f32) {
      %best:2 = scf.for %e = %c0 to %cE step %c1 iter_args(%bv = %ninf, %bi = %cm1) -> (f32, index) {
        %tk = memref.load %taken[%e] : memref<?xi1>
        %v = memref.load %q[%e] : memref<?xf32>
        %gt = arith.cmpf ogt, %v, %bv : f32
        %first = arith.cmpi eq, %bi, %cm1 : index
        %better = arith.ori %gt, %first : i1
        %free = arith.xori %tk, %true : i1
        %take = arith.andi %free, %better : i1
        %nv = arith.select %take, %v, %bv : f32
        %ni = arith.select %take, %e, %bi : index
        scf.yield %nv, %ni : f32, index
      }
      memref.store %true, %taken[%best#1] : memref<?xi1>
      %i32 = arith.index_cast %best#1 : index to i32
      memref.store %i32, %idx[%t, %j] : memref<?x?xi32>
      %wv = scf.if %softmaxAfter -> f32 {
        %l = memref.load %logits[%t, %best#1] : memref<?x?xf32>
        scf.yield %l : f32
      } else {
        %l = memref.load %s[%best#1] : memref<?xf32>
        scf.yield %l : f32
      }
      memref.store %wv, %w[%t, %j] : memref<?x?xf32>
      %a = arith.addf %acc, %wv : f32
      scf.yield %a : f32
    }
    scf.if %softmaxAfter {
    %mk = scf.for %j = %c0 to %cK step %c1 iter_args(%acc = %ninf) -> (f32) {
      %v = memref.load %w[%t, %j] : memref<?x?xf32>
      %mx = arith.maximumf %acc, %v : f32
      scf.yield %mx : f32
    }
    %sk = scf.for %j = %c0 to %cK step %c1 iter_args(%acc = %zero) -> (f32) {
      %v = memref.load %w[%t, %j] : memref<?x?xf32>
      %d = arith.subf %v, %mk : f32
      %x = math.exp %d : f32
      memref.store %x, %w[%t, %j] : memref<?x?xf32>
      %a = arith.addf %acc, %x : f32
      scf.yield %a : f32
    }
    scf.for %j = %c0 to %cK step %c1 {
      %x = memref.load %w[%t, %j] : memref<?x?xf32>
      %p = arith.divf %x, %sk : f32
      memref.store %p, %w[%t, %j] : memref<?x?xf32>
    }
    }
    scf.if %renorm {
    %eps = exec.param "EPS" : f32
    %den = arith.addf %wsum, %eps : f32
    scf.for %j = %c0 to %cK step %c1 {
      %x = memref.load %w[%t, %j] : memref<?x?xf32>
      %p = arith.divf %x, %den : f32
      memref.store %p, %w[%t, %j] : memref<?x?xf32>
    }
    }
    scf.if %scaled {
    %scale = exec.param "SCALE" : f32
    scf.for %j = %c0 to %cK step %c1 {
      %x = memref.load %w[%t, %j] : memref<?x?xf32>
      %p = arith.mulf %x, %scale : f32
      memref.store %p, %w[%t, %j] : memref<?x?xf32>
    }
    }
  }
  return
}

// Routing for the CUDA target, one warp (32 lanes) per token: the semantics
// of @route without group-limited routing. Lane l holds experts
// l, l + 32, ... (EPL = ceil(E / 32) each); the softmax's max and sum and each
// of the k arg-max steps are butterfly reductions over the warp's shuffles
// (ties to the lower expert, as on the CPU). Lane 0 writes the weights and
// indices. The sums run in a different order than on the CPU, so results may
// differ from the CPU target's in the last bits.
// Launched with exec.lanes = 32: every lane of a warp runs the same
// [begin, end) (the CUDA wrapper gives a warp one token).
// Parameters and flags as @route's (EPL is derived).
func.func @route_warp(%logits: memref<?x?xf32> {exec.shape = ["MT", "E"]},
                      %corr: memref<?xf32> {exec.if = "HAS_BIAS", exec.shape = ["E"]},
                      %w: memref<?x?xf32> {exec.shape = ["MT", "K"]},
                      %idx: memref<?x?xi32> {exec.shape = ["MT", "K"]},
                      %T: index, %begin: index, %end: index)
    attributes {exec.lanes = 32 : i64,
                exec.kernel_params = {E = index, K = index, MT = index, EPS = f32,
                                      SCALE = f32, SOFTMAX = i1, SIGMOID = i1,
                                      NONE = i1, HAS_BIAS = i1, RENORM = i1,
                                      SOFTMAX_AFTER = i1, SCALED = i1},
                exec.kernel_one_of = [["SOFTMAX", "SIGMOID", "NONE"]]} {
  %softmax = exec.param "SOFTMAX" : i1
  %sigmoid = exec.param "SIGMOID" : i1
  %hasBias = exec.param "HAS_BIAS" : i1
  %renorm = exec.param "RENORM" : i1
  %softmaxAfter = exec.param "SOFTMAX_AFTER" : i1
  %scaled = exec.param "SCALED" : i1
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c5 = arith.constant 5 : index
  %c32 = arith.constant 32 : index
  %cE = exec.param "E" : index
  %cK = exec.param "K" : index
  %c31 = arith.constant 31 : index
  %ePad = arith.addi %cE, %c31 : index
  %cEPL = arith.divui %ePad, %c32 : index
  %i16 = arith.constant 16 : i32
  %width = arith.constant 32 : i32
  %im1 = arith.constant -1 : i32
  %zero = arith.constant 0.0 : f32
  %one = arith.constant 1.0 : f32
  %ninf = arith.constant 0xFF800000 : f32
  %true = arith.constant true
  %s = memref.alloca(%cEPL) : memref<?xf32>
  %q = memref.alloca(%cEPL) : memref<?xf32>
  %taken = memref.alloca(%cEPL) : memref<?xi1>
  %lane = gpu.lane_id
  %lane0 = arith.cmpi eq, %lane, %c0 : index
  scf.for %t = %begin to %end step %c1 {
    %sum = scf.if %softmax -> f32 {
    %ml = scf.for %j = %c0 to %cEPL step %c1 iter_args(%acc = %ninf) -> (f32) {
      %j32 = arith.muli %j, %c32 : index
      %e = arith.addi %j32, %lane : index
      %in = arith.cmpi ult, %e, %cE : index
      %r = scf.if %in -> (f32) {
        %v = memref.load %logits[%t, %e] : memref<?x?xf32>
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
        %v = memref.load %logits[%t, %e] : memref<?x?xf32>
        %d = arith.subf %v, %m : f32
        %x = math.exp %d : f32
        memref.store %x, %s[%j] : memref<?xf32>
        %a = arith.addf %acc, %x : f32
        scf.yield %a : f32
      } else {
        scf.yield %acc : f32
      }
      scf.yield %r : f32
    }
    %sumAll = scf.for %st = %c0 to %c5 step %c1 iter_args(%acc = %sl) -> (f32) {
      %sh = arith.index_cast %st : index to i32
      %off = arith.shrui %i16, %sh : i32
      %o, %ok = gpu.shuffle xor %acc, %off, %width : f32
      %a = arith.addf %acc, %o : f32
      scf.yield %a : f32
    }
    scf.yield %sumAll : f32
    } else {
      scf.yield %zero : f32
    }
    scf.for %j = %c0 to %cEPL step %c1 {
      %j32 = arith.muli %j, %c32 : index
      %e = arith.addi %j32, %lane : index
      %in = arith.cmpi ult, %e, %cE : index
      scf.if %in {
        %sv = scf.if %softmax -> f32 {
          %x = memref.load %s[%j] : memref<?xf32>
          %p = arith.divf %x, %sum : f32
          scf.yield %p : f32
        } else {
          %p = scf.if %sigmoid -> f32 {
            %v = memref.load %logits[%t, %e] : memref<?x?xf32>
            %nv = arith.negf %v : f32
            %ex = math.exp %nv : f32
            %den = arith.addf %one, %ex : f32
            %g = arith.divf %one, %den : f32
            scf.yield %g : f32
          } else { // NONE
            %v = memref.load %logits[%t, %e] : memref<?x?xf32>
            scf.yield %v : f32
          }
          scf.yield %p : f32
        }
        memref.store %sv, %s[%j] : memref<?xf32>
        %qv = scf.if %hasBias -> f32 {
          %bv = memref.load %corr[%e] : memref<?xf32>
          %biased = arith.addf %sv, %bv : f32
          scf.yield %biased : f32
        } else {
          scf.yield %sv : f32
        }
        memref.store %qv, %q[%j] : memref<?xf32>
        %false = arith.constant false
        memref.store %false, %taken[%j] : memref<?xi1>
      } else {
        memref.store %true, %taken[%j] : memref<?xi1>
      }
    }
    %wsum = scf.for %kk = %c0 to %cK step %c1 iter_args(%acc = %zero) -> (f32) {
      %own:3 = scf.for %j = %c0 to %cEPL step %c1 iter_args(%bq = %ninf, %bs = %zero, %bi = %im1) -> (f32, f32, i32) {
        %j32 = arith.muli %j, %c32 : index
        %e = arith.addi %j32, %lane : index
        %ei = arith.index_cast %e : index to i32
        %tk = memref.load %taken[%j] : memref<?xi1>
        %v = memref.load %q[%j] : memref<?xf32>
        %sv = memref.load %s[%j] : memref<?xf32>
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
        memref.store %true, %taken[%bj] : memref<?xi1>
      }
      %wv = scf.if %softmaxAfter -> f32 {
        %l = memref.load %logits[%t, %bidx] : memref<?x?xf32>
        scf.yield %l : f32
      } else {
        %l = arith.select %true, %best#1, %zero : f32
        scf.yield %l : f32
      }
      scf.if %lane0 {
        memref.store %best#2, %idx[%t, %kk] : memref<?x?xi32>
        memref.store %wv, %w[%t, %kk] : memref<?x?xf32>
      }
      %a = arith.addf %acc, %wv : f32
      scf.yield %a : f32
    }
    scf.if %lane0 {
      scf.if %softmaxAfter {
      %mk = scf.for %j = %c0 to %cK step %c1 iter_args(%acc = %ninf) -> (f32) {
        %v = memref.load %w[%t, %j] : memref<?x?xf32>
        %mx = arith.maximumf %acc, %v : f32
        scf.yield %mx : f32
      }
      %sk = scf.for %j = %c0 to %cK step %c1 iter_args(%acc = %zero) -> (f32) {
        %v = memref.load %w[%t, %j] : memref<?x?xf32>
        %d = arith.subf %v, %mk : f32
        %x = math.exp %d : f32
        memref.store %x, %w[%t, %j] : memref<?x?xf32>
        %a = arith.addf %acc, %x : f32
        scf.yield %a : f32
      }
      scf.for %j = %c0 to %cK step %c1 {
        %x = memref.load %w[%t, %j] : memref<?x?xf32>
        %p = arith.divf %x, %sk : f32
        memref.store %p, %w[%t, %j] : memref<?x?xf32>
      }
      }
      scf.if %renorm {
      %eps = exec.param "EPS" : f32
      %den = arith.addf %wsum, %eps : f32
      scf.for %j = %c0 to %cK step %c1 {
        %x = memref.load %w[%t, %j] : memref<?x?xf32>
        %p = arith.divf %x, %den : f32
        memref.store %p, %w[%t, %j] : memref<?x?xf32>
      }
      }
      scf.if %scaled {
      %scale = exec.param "SCALE" : f32
      scf.for %j = %c0 to %cK step %c1 {
        %x = memref.load %w[%t, %j] : memref<?x?xf32>
        %p = arith.mulf %x, %scale : f32
        memref.store %p, %w[%t, %j] : memref<?x?xf32>
      }
      }
    }
  }
  return
}
