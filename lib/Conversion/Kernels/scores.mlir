// Dense scores, and expert-choice routing on them. Generic kernels
// (exec.kernel_params), specialized by exec-specialize-kernel. Tests:
// test/Conversion/Kernels/{scores,expert_choice}.mlir.

// For tokens [begin, end): out[t, e] = SCALE · score(logits[t, e]) (softmax
// over the E experts, sigmoid, or none: exactly one flag), and, with INDICES,
// idx[t, e] = e (moe.mixture). SCALE multiplies only with SCALED.
func.func @scores(%logits: memref<?x?xf32> {exec.shape = ["MT", "E"]},
                  %out: memref<?x?xf32> {exec.shape = ["MT", "E"]},
                  %idx: memref<?x?xi32> {exec.if = "INDICES", exec.shape = ["MT", "E"]},
                  %T: index, %begin: index, %end: index)
    attributes {exec.kernel_params = {MT = index, E = index, SCALE = f32,
                                      SOFTMAX = i1, SIGMOID = i1, NONE = i1,
                                      INDICES = i1, SCALED = i1},
                exec.kernel_one_of = [["SOFTMAX", "SIGMOID", "NONE"]]} {
  %softmax = exec.param "SOFTMAX" : i1
  %sigmoid = exec.param "SIGMOID" : i1
  %indices = exec.param "INDICES" : i1
  %scaled = exec.param "SCALED" : i1
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %cE = exec.param "E" : index
  %zero = arith.constant 0.0 : f32
  %one = arith.constant 1.0 : f32
  %ninf = arith.constant 0xFF800000 : f32
  scf.for %t = %begin to %end step %c1 {
    %sum = scf.if %softmax -> f32 {
      %m = scf.for %e = %c0 to %cE step %c1 iter_args(%acc = %ninf) -> (f32) {
        %v = memref.load %logits[%t, %e] : memref<?x?xf32>
        %mx = arith.maximumf %acc, %v : f32
        scf.yield %mx : f32
      }
      %s = scf.for %e = %c0 to %cE step %c1 iter_args(%acc = %zero) -> (f32) {
        %v = memref.load %logits[%t, %e] : memref<?x?xf32>
        %d = arith.subf %v, %m : f32
        %x = math.exp %d : f32
        memref.store %x, %out[%t, %e] : memref<?x?xf32>
        %a = arith.addf %acc, %x : f32
        scf.yield %a : f32
      }
      scf.yield %s : f32
    } else {
      scf.yield %zero : f32
    }
    scf.for %e = %c0 to %cE step %c1 {
      %p = scf.if %softmax -> f32 {
        %x = memref.load %out[%t, %e] : memref<?x?xf32>
        %q = arith.divf %x, %sum : f32
        scf.yield %q : f32
      } else {
        %q = scf.if %sigmoid -> f32 {
          %v = memref.load %logits[%t, %e] : memref<?x?xf32>
          %nv = arith.negf %v : f32
          %ex = math.exp %nv : f32
          %den = arith.addf %one, %ex : f32
          %s = arith.divf %one, %den : f32
          scf.yield %s : f32
        } else { // NONE
          %v = memref.load %logits[%t, %e] : memref<?x?xf32>
          scf.yield %v : f32
        }
        scf.yield %q : f32
      }
      %ps = scf.if %scaled -> f32 {
        %scale = exec.param "SCALE" : f32
        %m = arith.mulf %p, %scale : f32
        scf.yield %m : f32
      } else {
        scf.yield %p : f32
      }
      memref.store %ps, %out[%t, %e] : memref<?x?xf32>
      scf.if %indices {
        %e32 = arith.index_cast %e : index to i32
        memref.store %e32, %idx[%t, %e] : memref<?x?xi32>
      }
    }
  }
  return
}

// Expert-choice selection for experts [begin, end) from the dense scores
// [T, E]: expert e takes its C = min(T, ceil(CF · T / E)) best tokens,
// descending, ties to the lower token; row r = e · C + c. The item of the
// last expert also writes offsets[E] and marks rows [E · C, RPT · T + RFIX)
// unused.
func.func @expert_choice(%scores: memref<?x?xf32> {exec.shape = ["MT", "E"]},
                         %row_weight: memref<?xf32> {exec.shape = ["RMAX"]},
                         %row_token: memref<?xi32> {exec.shape = ["RMAX"]},
                         %offsets: memref<?xi32> {exec.shape = ["E+1"]},
                         %T: index, %begin: index, %end: index)
    attributes {exec.kernel_params = {MT = index, E = index, RMAX = index,
                                      RPT = index, RFIX = index, CF = f64}} {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %cE = exec.param "E" : index
  %cMT = exec.param "MT" : index
  %cm1 = arith.constant -1 : index
  %ninf = arith.constant 0xFF800000 : f32
  %zero = arith.constant 0.0 : f32
  %m1 = arith.constant -1 : i32
  %true = arith.constant true
  %false = arith.constant false
  %t64 = arith.index_cast %T : index to i64
  %tf = arith.sitofp %t64 : i64 to f64
  %cf = exec.param "CF" : f64
  %e64 = arith.index_cast %cE : index to i64
  %ef = arith.sitofp %e64 : i64 to f64
  %num = arith.mulf %cf, %tf : f64
  %quot = arith.divf %num, %ef : f64
  %ceil = math.ceil %quot : f64
  %c64 = arith.fptosi %ceil : f64 to i64
  %craw = arith.index_cast %c64 : i64 to index
  %C = arith.minui %craw, %T : index
  %taken = memref.alloca(%cMT) : memref<?xi1>
  scf.for %e = %begin to %end step %c1 {
    scf.for %t = %c0 to %T step %c1 {
      memref.store %false, %taken[%t] : memref<?xi1>
    }
    %base = arith.muli %e, %C : index
    %b32 = arith.index_cast %base : index to i32
    memref.store %b32, %offsets[%e] : memref<?xi32>
    scf.for %c = %c0 to %C step %c1 {
      %best:2 = scf.for %t = %c0 to %T step %c1 iter_args(%bv = %ninf, %bi = %cm1) -> (f32, index) {
        %tk = memref.load %taken[%t] : memref<?xi1>
        %v = memref.load %scores[%t, %e] : memref<?x?xf32>
        %gt = arith.cmpf ogt, %v, %bv : f32
        %first = arith.cmpi eq, %bi, %cm1 : index
        %better = arith.ori %gt, %first : i1
        %free = arith.xori %tk, %true : i1
        %take = arith.andi %free, %better : i1
        %nv = arith.select %take, %v, %bv : f32
        %ni = arith.select %take, %t, %bi : index
        scf.yield %nv, %ni : f32, index
      }
      memref.store %true, %taken[%best#1] : memref<?xi1>
      %r = arith.addi %base, %c : index
      %t32 = arith.index_cast %best#1 : index to i32
      memref.store %t32, %row_token[%r] : memref<?xi32>
      memref.store %best#0, %row_weight[%r] : memref<?xf32>
    }
    %e1 = arith.addi %e, %c1 : index
    %last = arith.cmpi eq, %e1, %cE : index
    scf.if %last {
      %used = arith.muli %cE, %C : index
      %u32 = arith.index_cast %used : index to i32
      memref.store %u32, %offsets[%cE] : memref<?xi32>
      %cRPT = exec.param "RPT" : index
      %cRFIX = exec.param "RFIX" : index
      %rowsT = arith.muli %T, %cRPT : index
      %rows = arith.addi %rowsT, %cRFIX : index
      scf.for %r = %used to %rows step %c1 {
        memref.store %m1, %row_token[%r] : memref<?xi32>
        memref.store %zero, %row_weight[%r] : memref<?xf32>
      }
    }
  }
  return
}
