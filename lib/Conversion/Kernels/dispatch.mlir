// The dispatch plan of moe.dispatch: per-expert counts, block-padded
// offsets, row_token (the token of each expert-ordered row, -1 for padding
// and unused rows) and slot_row (the row of each token's slot, -1 for a
// dropped copy). Generic kernels (exec.kernel_params), specialized by
// exec-specialize-kernel. Tests: test/Conversion/Kernels/{dispatch,
// dispatch_chunked}.mlir.

// offsets[0] = 0 and offsets[e + 1] = offsets[e] + counts[e] rounded up to a
// multiple of block, for e < E.
func.func private @padded_offsets(%counts: memref<?xi32>, %offsets: memref<?xi32>,
                                  %cE: index, %cBlock: index) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %z32 = arith.constant 0 : i32
  %cBlockM1 = arith.subi %cBlock, %c1 : index
  memref.store %z32, %offsets[%c0] : memref<?xi32>
  %unused = scf.for %e = %c0 to %cE step %c1 iter_args(%acc = %c0) -> (index) {
    %c32 = memref.load %counts[%e] : memref<?xi32>
    %c = arith.index_cast %c32 : i32 to index
    %cpad = arith.addi %c, %cBlockM1 : index
    %blocks = arith.divui %cpad, %cBlock : index
    %padded = arith.muli %blocks, %cBlock : index
    %next = arith.addi %acc, %padded : index
    %e1 = arith.addi %e, %c1 : index
    %n32 = arith.index_cast %next : index to i32
    memref.store %n32, %offsets[%e1] : memref<?xi32>
    scf.yield %next : index
  }
  return
}

// The whole plan in one sequential pass (launch extent 1): admission (all,
// or a capacity C with drop / reroute, in slot-major priority), counts,
// offsets, row_token and slot_row. CAPACITY: C = min(T, ceil(CAPF · T · K / E)), or
// CAPT with FIXED_CAP; REROUTE sends a copy that finds no room to the most
// probable expert (probs) that still has room and is none of the token's
// choices. Rows: RPT · T + RFIX.
func.func @dispatch(%idx: memref<?x?xi32> {exec.shape = ["MT", "K"]},
                    %probs: memref<?x?xf32> {exec.if = "REROUTE", exec.shape = ["MT", "E"]},
                    %counts: memref<?xi32> {exec.shape = ["E"]},
                    %offsets: memref<?xi32> {exec.shape = ["E+1"]},
                    %row_token: memref<?xi32> {exec.shape = ["RMAX"]},
                    %slot_row: memref<?x?xi32> {exec.shape = ["MT", "K"]},
                    %T: index, %begin: index, %end: index)
    attributes {exec.kernel_params = {E = index, K = index, MT = index, RMAX = index,
                                      RPT = index, RFIX = index, BLOCK = index,
                                      CAPF = f64, CAPT = index, CAPACITY = i1,
                                      FIXED_CAP = i1, REROUTE = i1}} {
  %capacity = exec.param "CAPACITY" : i1
  %reroute = exec.param "REROUTE" : i1
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %cE = exec.param "E" : index
  %cK = exec.param "K" : index
  %cBlock = exec.param "BLOCK" : index
  %z32 = arith.constant 0 : i32
  %one32 = arith.constant 1 : i32
  %m1 = arith.constant -1 : i32
  %false0 = arith.constant false
  %fill = memref.alloca(%cE) : memref<?xi32>
  scf.for %e = %c0 to %cE step %c1 {
    memref.store %z32, %counts[%e] : memref<?xi32>
    memref.store %z32, %fill[%e] : memref<?xi32>
  }
  scf.if %capacity {
    %fixed = exec.param "FIXED_CAP" : i1
    %cap = scf.if %fixed -> i32 {
      %capt = exec.param "CAPT" : index
      %c = arith.index_cast %capt : index to i32
      scf.yield %c : i32
    } else {
      %tk = arith.muli %T, %cK : index
      %tk64 = arith.index_cast %tk : index to i64
      %tkf = arith.sitofp %tk64 : i64 to f64
      %factor = exec.param "CAPF" : f64
      %e64 = arith.index_cast %cE : index to i64
      %ef = arith.sitofp %e64 : i64 to f64
      %num = arith.mulf %factor, %tkf : f64
      %quot = arith.divf %num, %ef : f64
      // min(T, ...): no expert takes more than T copies; keeps a huge
      // factor's quotient within i32.
      %T64 = arith.index_cast %T : index to i64
      %Tf = arith.sitofp %T64 : i64 to f64
      %clamped = arith.minimumf %quot, %Tf : f64
      %ceil = math.ceil %clamped : f64
      %c = arith.fptosi %ceil : f64 to i32
      scf.yield %c : i32
    }
    // Admission, slot-major: all tokens' slot 0, then slot 1, ...; the
    // admitted expert of (t, j) is kept in slot_row for now (-1: dropped).
    scf.for %j = %c0 to %cK step %c1 {
      scf.for %t = %c0 to %T step %c1 {
        %e32 = memref.load %idx[%t, %j] : memref<?x?xi32>
        %e = arith.index_cast %e32 : i32 to index
        %cnt = memref.load %counts[%e] : memref<?xi32>
        %room = arith.cmpi slt, %cnt, %cap : i32
        %chosen = scf.if %room -> (i32) {
          scf.yield %e32 : i32
        } else {
          %r = scf.if %reroute -> (i32) {
            %ninf = arith.constant 0xFF800000 : f32
            %cm1 = arith.constant -1 : index
            %true = arith.constant true
            %best:2 = scf.for %x = %c0 to %cE step %c1 iter_args(%bv = %ninf, %bi = %cm1) -> (f32, index) {
              %x32 = arith.index_cast %x : index to i32
              // Not one of the token's own choices, nor where an earlier copy went.
              %mine = scf.for %i = %c0 to %cK step %c1 iter_args(%acc = %false0) -> (i1) {
                %o = memref.load %idx[%t, %i] : memref<?x?xi32>
                %same = arith.cmpi eq, %o, %x32 : i32
                %before = arith.cmpi ult, %i, %j : index
                %a = memref.load %slot_row[%t, %i] : memref<?x?xi32>
                %sameA = arith.cmpi eq, %a, %x32 : i32
                %earlier = arith.andi %before, %sameA : i1
                %hit = arith.ori %same, %earlier : i1
                %rr = arith.ori %acc, %hit : i1
                scf.yield %rr : i1
              }
              %cx = memref.load %counts[%x] : memref<?xi32>
              %hasRoom = arith.cmpi slt, %cx, %cap : i32
              %notMine = arith.xori %mine, %true : i1
              %ok = arith.andi %hasRoom, %notMine : i1
              %v = memref.load %probs[%t, %x] : memref<?x?xf32>
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
            %s = arith.select %found, %b32, %m1 : i32
            scf.yield %s : i32
          } else {
            scf.yield %m1 : i32
          }
          scf.yield %r : i32
        }
        %admitted = arith.cmpi sge, %chosen, %z32 : i32
        scf.if %admitted {
          %ce = arith.index_cast %chosen : i32 to index
          %c = memref.load %counts[%ce] : memref<?xi32>
          %c2 = arith.addi %c, %one32 : i32
          memref.store %c2, %counts[%ce] : memref<?xi32>
        }
        memref.store %chosen, %slot_row[%t, %j] : memref<?x?xi32>
      }
    }
  } else {
    scf.for %t = %c0 to %T step %c1 {
      scf.for %j = %c0 to %cK step %c1 {
        %e32 = memref.load %idx[%t, %j] : memref<?x?xi32>
        %e = arith.index_cast %e32 : i32 to index
        %c = memref.load %counts[%e] : memref<?xi32>
        %c2 = arith.addi %c, %one32 : i32
        memref.store %c2, %counts[%e] : memref<?xi32>
        memref.store %e32, %slot_row[%t, %j] : memref<?x?xi32>
      }
    }
  }
  // Offsets: each group padded to a multiple of BLOCK.
  func.call @padded_offsets(%counts, %offsets, %cE, %cBlock)
      : (memref<?xi32>, memref<?xi32>, index, index) -> ()
  // Every row of this run (RPT * T + RFIX) starts as padding.
  %cRPT = exec.param "RPT" : index
  %cRFIX = exec.param "RFIX" : index
  %rowsT = arith.muli %T, %cRPT : index
  %rows = arith.addi %rowsT, %cRFIX : index
  scf.for %r = %c0 to %rows step %c1 {
    memref.store %m1, %row_token[%r] : memref<?xi32>
  }
  // Placement: within a group, copies in ascending token order.
  scf.for %t = %c0 to %T step %c1 {
    scf.for %j = %c0 to %cK step %c1 {
      %e32 = memref.load %slot_row[%t, %j] : memref<?x?xi32>
      %valid = arith.cmpi sge, %e32, %z32 : i32
      scf.if %valid {
        %e = arith.index_cast %e32 : i32 to index
        %base = memref.load %offsets[%e] : memref<?xi32>
        %f = memref.load %fill[%e] : memref<?xi32>
        %row32 = arith.addi %base, %f : i32
        %f2 = arith.addi %f, %one32 : i32
        memref.store %f2, %fill[%e] : memref<?xi32>
        %row = arith.index_cast %row32 : i32 to index
        %t32 = arith.index_cast %t : index to i32
        memref.store %t32, %row_token[%row] : memref<?xi32>
        memref.store %row32, %slot_row[%t, %j] : memref<?x?xi32>
      }
    }
  }
  return
}

// moe.dispatch without a capacity, in parallel over chunks of CH tokens: the
// same counts, offsets, row_token and slot_row as @dispatch (within an
// expert's group, copies in ascending token order, then slot order). Four
// kernels, launched in this order (row_token is filled with -1 before the
// last); NC is the number of chunks at MT.

// COUNT (extent T): the item of token t with t % CH == 0 counts its chunk's
// copies per expert into part[t / CH].
func.func @dispatch_chunked_count(%idx: memref<?x?xi32> {exec.shape = ["MT", "K"]},
                                  %part: memref<?x?xi32> {exec.shape = ["NC", "E"]},
                                  %T: index, %begin: index, %end: index)
    attributes {exec.kernel_params = {E = index, K = index, MT = index, NC = index,
                                      CH = index}} {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %cE = exec.param "E" : index
  %cK = exec.param "K" : index
  %cCH = exec.param "CH" : index
  %z32 = arith.constant 0 : i32
  %one32 = arith.constant 1 : i32
  scf.for %t0 = %begin to %end step %c1 {
    %rem = arith.remui %t0, %cCH : index
    %first = arith.cmpi eq, %rem, %c0 : index
    scf.if %first {
      %c = arith.divui %t0, %cCH : index
      %stop0 = arith.addi %t0, %cCH : index
      %stop = arith.minui %stop0, %T : index
      scf.for %e = %c0 to %cE step %c1 {
        memref.store %z32, %part[%c, %e] : memref<?x?xi32>
      }
      scf.for %t = %t0 to %stop step %c1 {
        scf.for %j = %c0 to %cK step %c1 {
          %e32 = memref.load %idx[%t, %j] : memref<?x?xi32>
          %e = arith.index_cast %e32 : i32 to index
          %n = memref.load %part[%c, %e] : memref<?x?xi32>
          %n1 = arith.addi %n, %one32 : i32
          memref.store %n1, %part[%c, %e] : memref<?x?xi32>
        }
      }
    }
  }
  return
}

// SCAN (extent E): expert e's total into counts[e]; part[c, e] becomes the
// number of e's copies in the chunks before c.
func.func @dispatch_chunked_scan(%part: memref<?x?xi32> {exec.shape = ["NC", "E"]},
                                 %counts: memref<?xi32> {exec.shape = ["E"]},
                                 %T: index, %begin: index, %end: index)
    attributes {exec.kernel_params = {E = index, NC = index, CH = index}} {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %cCH = exec.param "CH" : index
  %cCHM1 = arith.subi %cCH, %c1 : index
  %z32 = arith.constant 0 : i32
  %tpad = arith.addi %T, %cCHM1 : index
  %chunks = arith.divui %tpad, %cCH : index
  scf.for %e = %begin to %end step %c1 {
    %total = scf.for %c = %c0 to %chunks step %c1 iter_args(%acc = %z32) -> (i32) {
      %n = memref.load %part[%c, %e] : memref<?x?xi32>
      memref.store %acc, %part[%c, %e] : memref<?x?xi32>
      %next = arith.addi %acc, %n : i32
      scf.yield %next : i32
    }
    memref.store %total, %counts[%e] : memref<?xi32>
  }
  return
}

// OFFSETS (extent 1): each group padded to a multiple of BLOCK.
func.func @dispatch_chunked_offsets(%counts: memref<?xi32> {exec.shape = ["E"]},
                                    %offsets: memref<?xi32> {exec.shape = ["E+1"]},
                                    %T: index, %begin: index, %end: index)
    attributes {exec.kernel_params = {E = index, BLOCK = index}} {
  %cE = exec.param "E" : index
  %cBlock = exec.param "BLOCK" : index
  func.call @padded_offsets(%counts, %offsets, %cE, %cBlock)
      : (memref<?xi32>, memref<?xi32>, index, index) -> ()
  return
}

// PLACE (extent T): the chunk's copies of expert e take rows offsets[e] +
// part[c, e], ... in token order.
func.func @dispatch_chunked_place(%idx: memref<?x?xi32> {exec.shape = ["MT", "K"]},
                                  %part: memref<?x?xi32> {exec.shape = ["NC", "E"]},
                                  %offsets: memref<?xi32> {exec.shape = ["E+1"]},
                                  %row_token: memref<?xi32> {exec.shape = ["RMAX"]},
                                  %slot_row: memref<?x?xi32> {exec.shape = ["MT", "K"]},
                                  %T: index, %begin: index, %end: index)
    attributes {exec.kernel_params = {E = index, K = index, MT = index, NC = index,
                                      CH = index, RMAX = index}} {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %cK = exec.param "K" : index
  %cCH = exec.param "CH" : index
  %one32 = arith.constant 1 : i32
  scf.for %t0 = %begin to %end step %c1 {
    %rem = arith.remui %t0, %cCH : index
    %first = arith.cmpi eq, %rem, %c0 : index
    scf.if %first {
      %c = arith.divui %t0, %cCH : index
      %stop0 = arith.addi %t0, %cCH : index
      %stop = arith.minui %stop0, %T : index
      scf.for %t = %t0 to %stop step %c1 {
        scf.for %j = %c0 to %cK step %c1 {
          %e32 = memref.load %idx[%t, %j] : memref<?x?xi32>
          %e = arith.index_cast %e32 : i32 to index
          %base = memref.load %offsets[%e] : memref<?xi32>
          %before = memref.load %part[%c, %e] : memref<?x?xi32>
          %row32 = arith.addi %base, %before : i32
          %after = arith.addi %before, %one32 : i32
          memref.store %after, %part[%c, %e] : memref<?x?xi32>
          %row = arith.index_cast %row32 : i32 to index
          %t32 = arith.index_cast %t : index to i32
          memref.store %t32, %row_token[%row] : memref<?xi32>
          memref.store %row32, %slot_row[%t, %j] : memref<?x?xi32>
        }
      }
    }
  }
  return
}
