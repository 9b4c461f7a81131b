// Expert-choice selection for experts [begin, end) from the dense scores
// [T, E]: expert e takes its C = min(T, ceil(CF · T / E)) best tokens,
// descending, ties to the lower token; row r = e · C + c. The chunk holding the
// last expert also writes offsets[E] and marks rows [E · C, rows(T)) unused.
// Parameters: MT, E, E1, RMAX, RPT, RFIX, CF (f64), EF64.
func.func @${NAME}(%scores: memref<${MT}x${E}xf32>,
                   %row_weight: memref<${RMAX}xf32>, %row_token: memref<${RMAX}xi32>,
                   %offsets: memref<${E1}xi32>,
                   %T: index, %begin: index, %end: index) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %cE = arith.constant ${E} : index
  %cm1 = arith.constant -1 : index
  %ninf = arith.constant 0xFF800000 : f32
  %zero = arith.constant 0.0 : f32
  %m1 = arith.constant -1 : i32
  %true = arith.constant true
  %false = arith.constant false
  %t64 = arith.index_cast %T : index to i64
  %tf = arith.sitofp %t64 : i64 to f64
  %cf = arith.constant ${CF} : f64
  %ef = arith.constant ${EF64} : f64
  %num = arith.mulf %cf, %tf : f64
  %quot = arith.divf %num, %ef : f64
  %ceil = math.ceil %quot : f64
  %c64 = arith.fptosi %ceil : f64 to i64
  %craw = arith.index_cast %c64 : i64 to index
  %C = arith.minui %craw, %T : index
  %taken = memref.alloca() : memref<${MT}xi1>
  scf.for %e = %begin to %end step %c1 {
    scf.for %t = %c0 to %T step %c1 {
      memref.store %false, %taken[%t] : memref<${MT}xi1>
    }
    %base = arith.muli %e, %C : index
    %b32 = arith.index_cast %base : index to i32
    memref.store %b32, %offsets[%e] : memref<${E1}xi32>
    scf.for %c = %c0 to %C step %c1 {
      %best:2 = scf.for %t = %c0 to %T step %c1 iter_args(%bv = %ninf, %bi = %cm1) -> (f32, index) {
        %tk = memref.load %taken[%t] : memref<${MT}xi1>
        %v = memref.load %scores[%t, %e] : memref<${MT}x${E}xf32>
        %gt = arith.cmpf ogt, %v, %bv : f32
        %first = arith.cmpi eq, %bi, %cm1 : index
        %better = arith.ori %gt, %first : i1
        %free = arith.xori %tk, %true : i1
        %take = arith.andi %free, %better : i1
        %nv = arith.select %take, %v, %bv : f32
        %ni = arith.select %take, %t, %bi : index
        scf.yield %nv, %ni : f32, index
      }
      memref.store %true, %taken[%best#1] : memref<${MT}xi1>
      %r = arith.addi %base, %c : index
      %t32 = arith.index_cast %best#1 : index to i32
      memref.store %t32, %row_token[%r] : memref<${RMAX}xi32>
      memref.store %best#0, %row_weight[%r] : memref<${RMAX}xf32>
    }
    %e1 = arith.addi %e, %c1 : index
    %last = arith.cmpi eq, %e1, %cE : index
    scf.if %last {
      %used = arith.muli %cE, %C : index
      %u32 = arith.index_cast %used : index to i32
      memref.store %u32, %offsets[%cE] : memref<${E1}xi32>
      %cRPT = arith.constant ${RPT} : index
      %cRFIX = arith.constant ${RFIX} : index
      %rowsT = arith.muli %T, %cRPT : index
      %rows = arith.addi %rowsT, %cRFIX : index
      scf.for %r = %used to %rows step %c1 {
        memref.store %m1, %row_token[%r] : memref<${RMAX}xi32>
        memref.store %zero, %row_weight[%r] : memref<${RMAX}xf32>
      }
    }
  }
  return
}
