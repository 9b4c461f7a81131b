// A snippet, not a kernel: `//#include padded_offsets COUNTS=%counts
// OFFSETS=%offsets` writes OFFSETS[0] = 0 and OFFSETS[e + 1] = OFFSETS[e] +
// COUNTS[e] rounded up to a multiple of BLOCK, for e < E. It uses the
// including kernel's %c0, %c1, %cE, %cBlock, %cBlockM1 (BLOCK - 1) and %z32
// (i32 0). Used by dispatch and dispatch_chunked (OFFSETS).
  memref.store %z32, ${OFFSETS}[%c0] : memref<${E1}xi32>
  %unused = scf.for %e = %c0 to %cE step %c1 iter_args(%acc = %c0) -> (index) {
    %c32 = memref.load ${COUNTS}[%e] : memref<${E}xi32>
    %c = arith.index_cast %c32 : i32 to index
    %cpad = arith.addi %c, %cBlockM1 : index
    %blocks = arith.divui %cpad, %cBlock : index
    %padded = arith.muli %blocks, %cBlock : index
    %next = arith.addi %acc, %padded : index
    %e1 = arith.addi %e, %c1 : index
    %n32 = arith.index_cast %next : index to i32
    memref.store %n32, ${OFFSETS}[%e1] : memref<${E1}xi32>
    scf.yield %next : index
  }
