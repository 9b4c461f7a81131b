// The dispatch plan of moe.dispatch, computed by one sequential pass (launch
// extent 1): admission (all, or a capacity C with drop / reroute, in
// slot-major priority), per-expert counts, block-padded offsets, row_token
// (-1 for padding and unused rows) and slot_row (-1 for dropped copies).
// Parameters: E, E1 (= E + 1), K, MT, RMAX (rows at max_tokens), RPT and RFIX
// (rows = RPT * T + RFIX), BLOCK, CAPF (f64 factor) or CAPT (fixed C);
// flags CAPACITY, FIXED_CAP, REROUTE.
func.func @${NAME}(%idx: memref<${MT}x${K}xi32>,
//#if REROUTE
                   %probs: memref<${MT}x${E}xf32>,
//#endif
                   %counts: memref<${E}xi32>, %offsets: memref<${E1}xi32>,
                   %row_token: memref<${RMAX}xi32>, %slot_row: memref<${MT}x${K}xi32>,
                   %T: index, %begin: index, %end: index) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %cE = arith.constant ${E} : index
  %cK = arith.constant ${K} : index
  %cBlock = arith.constant ${BLOCK} : index
  %cBlockM1 = arith.constant ${BLOCKM1} : index
  %z32 = arith.constant 0 : i32
  %one32 = arith.constant 1 : i32
  %m1 = arith.constant -1 : i32
  %false0 = arith.constant false
  %fill = memref.alloca() : memref<${E}xi32>
  scf.for %e = %c0 to %cE step %c1 {
    memref.store %z32, %counts[%e] : memref<${E}xi32>
    memref.store %z32, %fill[%e] : memref<${E}xi32>
  }
//#if CAPACITY
//#if FIXED_CAP
  %cap = arith.constant ${CAPT} : i32
//#else
  %tk = arith.muli %T, %cK : index
  %tk64 = arith.index_cast %tk : index to i64
  %tkf = arith.sitofp %tk64 : i64 to f64
  %factor = arith.constant ${CAPF} : f64
  %ef = arith.constant ${EF64} : f64
  %num = arith.mulf %factor, %tkf : f64
  %quot = arith.divf %num, %ef : f64
  %ceil = math.ceil %quot : f64
  %cap = arith.fptosi %ceil : f64 to i32
//#endif
  // Admission, slot-major: all tokens' slot 0, then slot 1, ...; the admitted
  // expert of (t, j) is kept in slot_row for now (-1: dropped).
  scf.for %j = %c0 to %cK step %c1 {
    scf.for %t = %c0 to %T step %c1 {
      %e32 = memref.load %idx[%t, %j] : memref<${MT}x${K}xi32>
      %e = arith.index_cast %e32 : i32 to index
      %cnt = memref.load %counts[%e] : memref<${E}xi32>
      %room = arith.cmpi slt, %cnt, %cap : i32
      %chosen = scf.if %room -> (i32) {
        scf.yield %e32 : i32
      } else {
//#if REROUTE
        %ninf = arith.constant 0xFF800000 : f32
        %cm1 = arith.constant -1 : index
        %true = arith.constant true
        %best:2 = scf.for %x = %c0 to %cE step %c1 iter_args(%bv = %ninf, %bi = %cm1) -> (f32, index) {
          %x32 = arith.index_cast %x : index to i32
          // Not one of the token's own choices, nor where an earlier copy went.
          %mine = scf.for %i = %c0 to %cK step %c1 iter_args(%acc = %false0) -> (i1) {
            %o = memref.load %idx[%t, %i] : memref<${MT}x${K}xi32>
            %same = arith.cmpi eq, %o, %x32 : i32
            %before = arith.cmpi ult, %i, %j : index
            %a = memref.load %slot_row[%t, %i] : memref<${MT}x${K}xi32>
            %sameA = arith.cmpi eq, %a, %x32 : i32
            %earlier = arith.andi %before, %sameA : i1
            %hit = arith.ori %same, %earlier : i1
            %r = arith.ori %acc, %hit : i1
            scf.yield %r : i1
          }
          %cx = memref.load %counts[%x] : memref<${E}xi32>
          %hasRoom = arith.cmpi slt, %cx, %cap : i32
          %notMine = arith.xori %mine, %true : i1
          %ok = arith.andi %hasRoom, %notMine : i1
          %v = memref.load %probs[%t, %x] : memref<${MT}x${E}xf32>
          %gt = arith.cmpf ogt, %v, %bv : f32
          %first = arith.cmpi eq, %bi, %cm1 : index
          %better = arith.ori %gt, %first : i1
          %take = arith.andi %ok, %better : i1
          %nv = arith.select %take, %v, %bv : f32
          %ni = arith.select %take, %x, %bi : index
          scf.yield %nv, %ni : f32, index
        }
        %found = arith.cmpi ne, %best#1, %cm1 : index
        %b32 = arith.index_cast %best#1 : index to i32
        %r = arith.select %found, %b32, %m1 : i32
        scf.yield %r : i32
//#else
        scf.yield %m1 : i32
//#endif
      }
      %admitted = arith.cmpi sge, %chosen, %z32 : i32
      scf.if %admitted {
        %ce = arith.index_cast %chosen : i32 to index
        %c = memref.load %counts[%ce] : memref<${E}xi32>
        %c2 = arith.addi %c, %one32 : i32
        memref.store %c2, %counts[%ce] : memref<${E}xi32>
      }
      memref.store %chosen, %slot_row[%t, %j] : memref<${MT}x${K}xi32>
    }
  }
//#else
  scf.for %t = %c0 to %T step %c1 {
    scf.for %j = %c0 to %cK step %c1 {
      %e32 = memref.load %idx[%t, %j] : memref<${MT}x${K}xi32>
      %e = arith.index_cast %e32 : i32 to index
      %c = memref.load %counts[%e] : memref<${E}xi32>
      %c2 = arith.addi %c, %one32 : i32
      memref.store %c2, %counts[%e] : memref<${E}xi32>
      memref.store %e32, %slot_row[%t, %j] : memref<${MT}x${K}xi32>
    }
  }
//#endif
  // Offsets: each group padded to a multiple of BLOCK.
//#include padded_offsets COUNTS=%counts OFFSETS=%offsets
  // Every row of this run (RPT * T + RFIX) starts as padding.
  %cRPT = arith.constant ${RPT} : index
  %cRFIX = arith.constant ${RFIX} : index
  %rowsT = arith.muli %T, %cRPT : index
  %rows = arith.addi %rowsT, %cRFIX : index
  scf.for %r = %c0 to %rows step %c1 {
    memref.store %m1, %row_token[%r] : memref<${RMAX}xi32>
  }
  // Placement: within a group, copies in ascending token order.
  scf.for %t = %c0 to %T step %c1 {
    scf.for %j = %c0 to %cK step %c1 {
      %e32 = memref.load %slot_row[%t, %j] : memref<${MT}x${K}xi32>
      %valid = arith.cmpi sge, %e32, %z32 : i32
      scf.if %valid {
        %e = arith.index_cast %e32 : i32 to index
        %base = memref.load %offsets[%e] : memref<${E1}xi32>
        %f = memref.load %fill[%e] : memref<${E}xi32>
        %row32 = arith.addi %base, %f : i32
        %f2 = arith.addi %f, %one32 : i32
        memref.store %f2, %fill[%e] : memref<${E}xi32>
        %row = arith.index_cast %row32 : i32 to index
        %t32 = arith.index_cast %t : index to i32
        memref.store %t32, %row_token[%row] : memref<${RMAX}xi32>
        memref.store %row32, %slot_row[%t, %j] : memref<${MT}x${K}xi32>
      }
    }
  }
  return
}
