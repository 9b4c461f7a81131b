// Router statistics of one run: out = [load_0 .. load_{E-1}, cv,
// load-balancing loss, z-loss, T] in f32, from the logits [T, E] and the
// chosen indices [T, K] (-1 entries ignored). Two kernels, so that the work
// over tokens runs in parallel and the sums stay in a fixed order:
// PARTIAL (launch extent T): the item of token t with t % CH == 0 sums tokens
// [t, min(t + CH, T)) into part[t / CH] = [count_0 .. count_{E-1},
// prob_0 .. prob_{E-1}, Σ z²] (prob: the softmax of a token's logits, z: their
// log-sum-exp). FINAL (launch extent 1) adds the chunks in order and derives
// the statistics. Parameters: MT, E, E4, K, EF, CH, NC (chunks at MT), W
// (= 2E + 1), E2 (= 2E).
//#if PARTIAL
func.func @${NAME}(%logits: memref<${MT}x${E}xf32>, %idx: memref<${MT}x${K}xi32>,
                   %part: memref<${NC}x${W}xf32>,
                   %T: index, %begin: index, %end: index) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %cE = arith.constant ${E} : index
  %cK = arith.constant ${K} : index
  %cW = arith.constant ${W} : index
  %cE2 = arith.constant ${E2} : index
  %cCH = arith.constant ${CH} : index
  %zero = arith.constant 0.0 : f32
  %one = arith.constant 1.0 : f32
  %ninf = arith.constant 0xFF800000 : f32
  %z32 = arith.constant 0 : i32
  scf.for %t0 = %begin to %end step %c1 {
    %rem = arith.remui %t0, %cCH : index
    %first = arith.cmpi eq, %rem, %c0 : index
    scf.if %first {
      %c = arith.divui %t0, %cCH : index
      %stop0 = arith.addi %t0, %cCH : index
      %stop = arith.minui %stop0, %T : index
      scf.for %i = %c0 to %cW step %c1 {
        memref.store %zero, %part[%c, %i] : memref<${NC}x${W}xf32>
      }
      %zsum = scf.for %t = %t0 to %stop step %c1 iter_args(%zacc = %zero) -> (f32) {
        scf.for %j = %c0 to %cK step %c1 {
          %e32 = memref.load %idx[%t, %j] : memref<${MT}x${K}xi32>
          %valid = arith.cmpi sge, %e32, %z32 : i32
          scf.if %valid {
            %e = arith.index_cast %e32 : i32 to index
            %n = memref.load %part[%c, %e] : memref<${NC}x${W}xf32>
            %n2 = arith.addf %n, %one : f32
            memref.store %n2, %part[%c, %e] : memref<${NC}x${W}xf32>
          }
        }
        %m = scf.for %e = %c0 to %cE step %c1 iter_args(%acc = %ninf) -> (f32) {
          %v = memref.load %logits[%t, %e] : memref<${MT}x${E}xf32>
          %mx = arith.maximumf %acc, %v : f32
          scf.yield %mx : f32
        }
        %sum = scf.for %e = %c0 to %cE step %c1 iter_args(%acc = %zero) -> (f32) {
          %v = memref.load %logits[%t, %e] : memref<${MT}x${E}xf32>
          %d = arith.subf %v, %m : f32
          %x = math.exp %d : f32
          %a = arith.addf %acc, %x : f32
          scf.yield %a : f32
        }
        scf.for %e = %c0 to %cE step %c1 {
          %v = memref.load %logits[%t, %e] : memref<${MT}x${E}xf32>
          %d = arith.subf %v, %m : f32
          %x = math.exp %d : f32
          %pr = arith.divf %x, %sum : f32
          %pe = arith.addi %e, %cE : index
          %acc = memref.load %part[%c, %pe] : memref<${NC}x${W}xf32>
          %a = arith.addf %acc, %pr : f32
          memref.store %a, %part[%c, %pe] : memref<${NC}x${W}xf32>
        }
        %lse0 = math.log %sum : f32
        %lse = arith.addf %lse0, %m : f32
        %z = arith.mulf %lse, %lse : f32
        %zn = arith.addf %zacc, %z : f32
        scf.yield %zn : f32
      }
      memref.store %zsum, %part[%c, %cE2] : memref<${NC}x${W}xf32>
    }
  }
  return
}
//#else
func.func @${NAME}(%part: memref<${NC}x${W}xf32>, %out: memref<${E4}xf32>,
                   %T: index, %begin: index, %end: index) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %cE = arith.constant ${E} : index
  %cE2 = arith.constant ${E2} : index
  %cCH = arith.constant ${CH} : index
  %cCHm1 = arith.constant ${CHM1} : index
  %zero = arith.constant 0.0 : f32
  %ef = arith.constant ${EF} : f32
  %p = memref.alloca() : memref<${E}xf32>
  scf.for %e = %c0 to %cE step %c1 {
    memref.store %zero, %out[%e] : memref<${E4}xf32>
    memref.store %zero, %p[%e] : memref<${E}xf32>
  }
  %t64 = arith.index_cast %T : index to i64
  %tf = arith.sitofp %t64 : i64 to f32
  %tpad = arith.addi %T, %cCHm1 : index
  %chunks = arith.divui %tpad, %cCH : index
  %zsum = scf.for %c = %c0 to %chunks step %c1 iter_args(%zacc = %zero) -> (f32) {
    scf.for %e = %c0 to %cE step %c1 {
      %n = memref.load %part[%c, %e] : memref<${NC}x${W}xf32>
      %o = memref.load %out[%e] : memref<${E4}xf32>
      %s = arith.addf %o, %n : f32
      memref.store %s, %out[%e] : memref<${E4}xf32>
      %pe = arith.addi %e, %cE : index
      %q = memref.load %part[%c, %pe] : memref<${NC}x${W}xf32>
      %acc = memref.load %p[%e] : memref<${E}xf32>
      %a = arith.addf %acc, %q : f32
      memref.store %a, %p[%e] : memref<${E}xf32>
    }
    %z = memref.load %part[%c, %cE2] : memref<${NC}x${W}xf32>
    %zn = arith.addf %zacc, %z : f32
    scf.yield %zn : f32
  }
  %total = scf.for %e = %c0 to %cE step %c1 iter_args(%acc = %zero) -> (f32) {
    %c = memref.load %out[%e] : memref<${E4}xf32>
    %a = arith.addf %acc, %c : f32
    scf.yield %a : f32
  }
  %mean = arith.divf %total, %ef : f32
  %var = scf.for %e = %c0 to %cE step %c1 iter_args(%acc = %zero) -> (f32) {
    %c = memref.load %out[%e] : memref<${E4}xf32>
    %d = arith.subf %c, %mean : f32
    %d2 = arith.mulf %d, %d : f32
    %a = arith.addf %acc, %d2 : f32
    scf.yield %a : f32
  }
  %varm = arith.divf %var, %ef : f32
  %std = math.sqrt %varm : f32
  %cv = arith.divf %std, %mean : f32
  %lbsum = scf.for %e = %c0 to %cE step %c1 iter_args(%acc = %zero) -> (f32) {
    %c = memref.load %out[%e] : memref<${E4}xf32>
    %f = arith.divf %c, %tf : f32
    %pp = memref.load %p[%e] : memref<${E}xf32>
    %pm = arith.divf %pp, %tf : f32
    %fp = arith.mulf %f, %pm : f32
    %a = arith.addf %acc, %fp : f32
    scf.yield %a : f32
  }
  %lb = arith.mulf %ef, %lbsum : f32
  %zl = arith.divf %zsum, %tf : f32
  %i0 = arith.constant ${E} : index
  %i1 = arith.constant ${E_1} : index
  %i2 = arith.constant ${E_2} : index
  %i3 = arith.constant ${E_3} : index
  memref.store %cv, %out[%i0] : memref<${E4}xf32>
  memref.store %lb, %out[%i1] : memref<${E4}xf32>
  memref.store %zl, %out[%i2] : memref<${E4}xf32>
  memref.store %tf, %out[%i3] : memref<${E4}xf32>
  return
}
//#endif
