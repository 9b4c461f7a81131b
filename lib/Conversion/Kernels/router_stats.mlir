// Router statistics of one run: out = [load_0 .. load_{E-1}, cv,
// load-balancing loss, z-loss, T] in f32, from the logits [T, E] and the
// chosen indices [T, K] (-1 entries ignored). Two generic kernels, so that the
// work over tokens runs in parallel and the sums stay in a fixed order.
// Test: test/Conversion/Kernels/router_stats.mlir.

// PARTIAL (launch extent T): the item of token t with t % CH == 0 sums tokens
// [t, min(t + CH, T)) into part[t / CH] = [count_0 .. count_{E-1},
// prob_0 .. prob_{E-1}, Σ z²] (prob: the softmax of a token's logits, z: their
// log-sum-exp). NC is the number of chunks at MT.
func.func @router_stats_partial(%logits: memref<?x?xf32> {exec.shape = ["MT", "E"]},
                                %idx: memref<?x?xi32> {exec.shape = ["MT", "K"]},
                                %part: memref<?x?xf32> {exec.shape = ["NC", "2*E+1"]},
                                %T: index, %begin: index, %end: index)
    attributes {exec.kernel_params = {MT = index, E = index, K = index, NC = index,
                                      CH = index}} {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %cE = exec.param "E" : index
  %cK = exec.param "K" : index
  %cE2 = arith.addi %cE, %cE : index
  %cW = arith.addi %cE2, %c1 : index
  %cCH = exec.param "CH" : index
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
        memref.store %zero, %part[%c, %i] : memref<?x?xf32>
      }
      %zsum = scf.for %t = %t0 to %stop step %c1 iter_args(%zacc = %zero) -> (f32) {
        scf.for %j = %c0 to %cK step %c1 {
          %e32 = memref.load %idx[%t, %j] : memref<?x?xi32>
          %valid = arith.cmpi sge, %e32, %z32 : i32
          scf.if %valid {
            %e = arith.index_cast %e32 : i32 to index
            %n = memref.load %part[%c, %e] : memref<?x?xf32>
            %n2 = arith.addf %n, %one : f32
            memref.store %n2, %part[%c, %e] : memref<?x?xf32>
          }
        }
        %m = scf.for %e = %c0 to %cE step %c1 iter_args(%acc = %ninf) -> (f32) {
          %v = memref.load %logits[%t, %e] : memref<?x?xf32>
          %mx = arith.maximumf %acc, %v : f32
          scf.yield %mx : f32
        }
        %sum = scf.for %e = %c0 to %cE step %c1 iter_args(%acc = %zero) -> (f32) {
          %v = memref.load %logits[%t, %e] : memref<?x?xf32>
          %d = arith.subf %v, %m : f32
          %x = math.exp %d : f32
          %a = arith.addf %acc, %x : f32
          scf.yield %a : f32
        }
        scf.for %e = %c0 to %cE step %c1 {
          %v = memref.load %logits[%t, %e] : memref<?x?xf32>
          %d = arith.subf %v, %m : f32
          %x = math.exp %d : f32
          %pr = arith.divf %x, %sum : f32
          %pe = arith.addi %e, %cE : index
          %acc = memref.load %part[%c, %pe] : memref<?x?xf32>
          %a = arith.addf %acc, %pr : f32
          memref.store %a, %part[%c, %pe] : memref<?x?xf32>
        }
        %lse0 = math.log %sum : f32
        %lse = arith.addf %lse0, %m : f32
        %z = arith.mulf %lse, %lse : f32
        %zn = arith.addf %zacc, %z : f32
        scf.yield %zn : f32
      }
      memref.store %zsum, %part[%c, %cE2] : memref<?x?xf32>
    }
  }
  return
}

// FINAL (launch extent 1) adds the chunks in order and derives the
// statistics.
func.func @router_stats_final(%part: memref<?x?xf32> {exec.shape = ["NC", "2*E+1"]},
                              %out: memref<?xf32> {exec.shape = ["E+4"]},
                              %T: index, %begin: index, %end: index)
    attributes {exec.kernel_params = {E = index, NC = index, CH = index}} {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %cE = exec.param "E" : index
  %cE2 = arith.addi %cE, %cE : index
  %cCH = exec.param "CH" : index
  %cCHm1 = arith.subi %cCH, %c1 : index
  %zero = arith.constant 0.0 : f32
  %e64 = arith.index_cast %cE : index to i64
  %ef = arith.sitofp %e64 : i64 to f32
  %p = memref.alloca(%cE) : memref<?xf32>
  scf.for %e = %c0 to %cE step %c1 {
    memref.store %zero, %out[%e] : memref<?xf32>
    memref.store %zero, %p[%e] : memref<?xf32>
  }
  %t64 = arith.index_cast %T : index to i64
  %tf = arith.sitofp %t64 : i64 to f32
  %tpad = arith.addi %T, %cCHm1 : index
  %chunks = arith.divui %tpad, %cCH : index
  %zsum = scf.for %c = %c0 to %chunks step %c1 iter_args(%zacc = %zero) -> (f32) {
    scf.for %e = %c0 to %cE step %c1 {
      %n = memref.load %part[%c, %e] : memref<?x?xf32>
      %o = memref.load %out[%e] : memref<?xf32>
      %s = arith.addf %o, %n : f32
      memref.store %s, %out[%e] : memref<?xf32>
      %pe = arith.addi %e, %cE : index
      %q = memref.load %part[%c, %pe] : memref<?x?xf32>
      %acc = memref.load %p[%e] : memref<?xf32>
      %a = arith.addf %acc, %q : f32
      memref.store %a, %p[%e] : memref<?xf32>
    }
    %z = memref.load %part[%c, %cE2] : memref<?x?xf32>
    %zn = arith.addf %zacc, %z : f32
    scf.yield %zn : f32
  }
  %total = scf.for %e = %c0 to %cE step %c1 iter_args(%acc = %zero) -> (f32) {
    %c = memref.load %out[%e] : memref<?xf32>
    %a = arith.addf %acc, %c : f32
    scf.yield %a : f32
  }
  %mean = arith.divf %total, %ef : f32
  %var = scf.for %e = %c0 to %cE step %c1 iter_args(%acc = %zero) -> (f32) {
    %c = memref.load %out[%e] : memref<?xf32>
    %d = arith.subf %c, %mean : f32
    %d2 = arith.mulf %d, %d : f32
    %a = arith.addf %acc, %d2 : f32
    scf.yield %a : f32
  }
  %varm = arith.divf %var, %ef : f32
  %std = math.sqrt %varm : f32
  %cv = arith.divf %std, %mean : f32
  %lbsum = scf.for %e = %c0 to %cE step %c1 iter_args(%acc = %zero) -> (f32) {
    %c = memref.load %out[%e] : memref<?xf32>
    %f = arith.divf %c, %tf : f32
    %pp = memref.load %p[%e] : memref<?xf32>
    %pm = arith.divf %pp, %tf : f32
    %fp = arith.mulf %f, %pm : f32
    %a = arith.addf %acc, %fp : f32
    scf.yield %a : f32
  }
  %lb = arith.mulf %ef, %lbsum : f32
  %zl = arith.divf %zsum, %tf : f32
  %i0 = arith.addi %cE, %c0 : index
  %i1 = arith.addi %cE, %c1 : index
  %c2 = arith.constant 2 : index
  %c3 = arith.constant 3 : index
  %i2 = arith.addi %cE, %c2 : index
  %i3 = arith.addi %cE, %c3 : index
  memref.store %cv, %out[%i0] : memref<?xf32>
  memref.store %lb, %out[%i1] : memref<?xf32>
  memref.store %zl, %out[%i2] : memref<?xf32>
  memref.store %tf, %out[%i3] : memref<?xf32>
  return
}
