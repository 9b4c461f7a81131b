// moe.dispatch without a capacity, in parallel over chunks of CH tokens: the
// same counts, offsets, row_token and slot_row as dispatch.mlir (within an
// expert's group, copies in ascending token order, then slot order). Four
// kernels, launched in this order (row_token is filled with -1 before PLACE):
// COUNT (extent T): the item of token t with t % CH == 0 counts its chunk's
//   copies per expert into part[t / CH].
// SCAN (extent E): expert e's total into counts[e]; part[c, e] becomes the
//   number of e's copies in the chunks before c.
// OFFSETS (extent 1): each group padded to a multiple of BLOCK.
// PLACE (extent T): the chunk's copies of expert e take rows offsets[e] +
//   part[c, e], ... in token order.
// Parameters: E, E1 (= E + 1), K, MT, RMAX, CH, CHM1 (= CH - 1), NC (chunks
// at MT), BLOCK, BLOCKM1.
//#if COUNT
func.func @${NAME}(%idx: memref<${MT}x${K}xi32>, %part: memref<${NC}x${E}xi32>,
                   %T: index, %begin: index, %end: index) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %cE = arith.constant ${E} : index
  %cK = arith.constant ${K} : index
  %cCH = arith.constant ${CH} : index
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
        memref.store %z32, %part[%c, %e] : memref<${NC}x${E}xi32>
      }
      scf.for %t = %t0 to %stop step %c1 {
        scf.for %j = %c0 to %cK step %c1 {
          %e32 = memref.load %idx[%t, %j] : memref<${MT}x${K}xi32>
          %e = arith.index_cast %e32 : i32 to index
          %n = memref.load %part[%c, %e] : memref<${NC}x${E}xi32>
          %n1 = arith.addi %n, %one32 : i32
          memref.store %n1, %part[%c, %e] : memref<${NC}x${E}xi32>
        }
      }
    }
  }
  return
}
//#endif
//#if SCAN
func.func @${NAME}(%part: memref<${NC}x${E}xi32>, %counts: memref<${E}xi32>,
                   %T: index, %begin: index, %end: index) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %cCH = arith.constant ${CH} : index
  %cCHM1 = arith.constant ${CHM1} : index
  %z32 = arith.constant 0 : i32
  %tpad = arith.addi %T, %cCHM1 : index
  %chunks = arith.divui %tpad, %cCH : index
  scf.for %e = %begin to %end step %c1 {
    %total = scf.for %c = %c0 to %chunks step %c1 iter_args(%acc = %z32) -> (i32) {
      %n = memref.load %part[%c, %e] : memref<${NC}x${E}xi32>
      memref.store %acc, %part[%c, %e] : memref<${NC}x${E}xi32>
      %next = arith.addi %acc, %n : i32
      scf.yield %next : i32
    }
    memref.store %total, %counts[%e] : memref<${E}xi32>
  }
  return
}
//#endif
//#if OFFSETS
func.func @${NAME}(%counts: memref<${E}xi32>, %offsets: memref<${E1}xi32>,
                   %T: index, %begin: index, %end: index) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %cE = arith.constant ${E} : index
  %cBlock = arith.constant ${BLOCK} : index
  %cBlockM1 = arith.constant ${BLOCKM1} : index
  %z32 = arith.constant 0 : i32
//#include padded_offsets COUNTS=%counts OFFSETS=%offsets
  return
}
//#endif
//#if PLACE
func.func @${NAME}(%idx: memref<${MT}x${K}xi32>, %part: memref<${NC}x${E}xi32>,
                   %offsets: memref<${E1}xi32>, %row_token: memref<${RMAX}xi32>,
                   %slot_row: memref<${MT}x${K}xi32>,
                   %T: index, %begin: index, %end: index) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %cK = arith.constant ${K} : index
  %cCH = arith.constant ${CH} : index
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
          %e32 = memref.load %idx[%t, %j] : memref<${MT}x${K}xi32>
          %e = arith.index_cast %e32 : i32 to index
          %base = memref.load %offsets[%e] : memref<${E1}xi32>
          %before = memref.load %part[%c, %e] : memref<${NC}x${E}xi32>
          %row32 = arith.addi %base, %before : i32
          %after = arith.addi %before, %one32 : i32
          memref.store %after, %part[%c, %e] : memref<${NC}x${E}xi32>
          %row = arith.index_cast %row32 : i32 to index
          %t32 = arith.index_cast %t : index to i32
          memref.store %t32, %row_token[%row] : memref<${RMAX}xi32>
          memref.store %row32, %slot_row[%t, %j] : memref<${MT}x${K}xi32>
        }
      }
    }
  }
  return
}
//#endif
