// The weighted combine. A generic kernel (exec.kernel_params), specialized
// by exec-specialize-kernel. Test: test/Conversion/Kernels/combine.mlir.

// moe.combine for tokens [begin, end): out[t] = Σ w[t, j] · y[slot_row[t, j]]
// in ascending slot_row order (dropped slots first, in slot order; they add
// w · x[t] with PASSTHROUGH, else nothing), then + addend[t] (ADDEND). y
// holds YT (f32, or the experts' 16-bit outputs of a 16-bit function); out
// holds OT (f32, or a 16-bit function's output: the sum rounded once, as it
// is stored), addend AT (f32, or a 16-bit function's shared expert
// output). Each element's sum runs in f32 in a register, in that order; the
// kept slots' rows and weights are found once per token (stack arrays).
func.func @combine(%y: memref<?x?xf32> {exec.element_type = "YT", exec.shape = ["RMAX", "H"]},
                   %w: memref<?x?xf32> {exec.shape = ["MT", "K"]},
                   %slot_row: memref<?x?xi32> {exec.shape = ["MT", "K"]},
                   %x: memref<?x?xf32> {exec.if = "PASSTHROUGH", exec.shape = ["MT", "H"]},
                   %addend: memref<?x?xf32> {exec.if = "ADDEND", exec.element_type = "AT", exec.shape = ["MT", "H"]},
                   %out: memref<?x?xf32> {exec.element_type = "OT", exec.shape = ["MT", "H"]},
                   %T: index, %begin: index, %end: index)
    attributes {exec.kernel_params = {MT = index, RMAX = index, H = index, K = index,
                                      PASSTHROUGH = i1, ADDEND = i1, YT = none, OT = none,
                                      AT = none}} {
  %passthrough = exec.param "PASSTHROUGH" : i1
  %hasAddend = exec.param "ADDEND" : i1
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %cH = exec.param "H" : index
  %cK = exec.param "K" : index
  %zero = arith.constant 0.0 : f32
  %z32 = arith.constant 0 : i32
  %big = arith.constant 2147483647 : i32
  %cm1 = arith.constant -1 : index
  %done = memref.alloca(%cK) : memref<?xi1>
  %rows = memref.alloca(%cK) : memref<?xindex>
  %weights = memref.alloca(%cK) : memref<?xf32>
  %true = arith.constant true
  %false = arith.constant false
  scf.for %t = %begin to %end step %c1 {
    scf.for %j = %c0 to %cK step %c1 {
      %row = memref.load %slot_row[%t, %j] : memref<?x?xi32>
      %dropped = arith.cmpi slt, %row, %z32 : i32
      memref.store %dropped, %done[%j] : memref<?xi1>
    }
    // The kept slots in ascending row order: their rows and weights in
    // rows[0, kept) and weights[0, kept).
    %kept = scf.for %n = %c0 to %cK step %c1 iter_args(%count = %c0) -> (index) {
      %best:2 = scf.for %j = %c0 to %cK step %c1 iter_args(%br = %big, %bj = %cm1) -> (i32, index) {
        %dn = memref.load %done[%j] : memref<?xi1>
        %row = memref.load %slot_row[%t, %j] : memref<?x?xi32>
        %lt = arith.cmpi slt, %row, %br : i32
        %first = arith.cmpi eq, %bj, %cm1 : index
        %better = arith.ori %lt, %first : i1
        %free = arith.xori %dn, %true : i1
        %take = arith.andi %free, %better : i1
        %nr = arith.select %take, %row, %br : i32
        %nj = arith.select %take, %j, %bj : index
        scf.yield %nr, %nj : i32, index
      }
      %found = arith.cmpi ne, %best#1, %cm1 : index
      %next = scf.if %found -> (index) {
        memref.store %true, %done[%best#1] : memref<?xi1>
        %r = arith.index_cast %best#0 : i32 to index
        %wv = memref.load %w[%t, %best#1] : memref<?x?xf32>
        memref.store %r, %rows[%count] : memref<?xindex>
        memref.store %wv, %weights[%count] : memref<?xf32>
        %c = arith.addi %count, %c1 : index
        scf.yield %c : index
      } else {
        scf.yield %count : index
      }
      scf.yield %next : index
    }
    scf.for %h = %c0 to %cH step %c1 {
      // The dropped slots, in slot order (their tokens' input, weighted).
      %p = scf.if %passthrough -> (f32) {
        %s = scf.for %j = %c0 to %cK step %c1 iter_args(%acc = %zero) -> (f32) {
          %row = memref.load %slot_row[%t, %j] : memref<?x?xi32>
          %dropped = arith.cmpi slt, %row, %z32 : i32
          %a = scf.if %dropped -> (f32) {
            %wv = memref.load %w[%t, %j] : memref<?x?xf32>
            %v = memref.load %x[%t, %h] : memref<?x?xf32>
            %m = arith.mulf %wv, %v : f32
            %sum = arith.addf %acc, %m : f32
            scf.yield %sum : f32
          } else {
            scf.yield %acc : f32
          }
          scf.yield %a : f32
        }
        scf.yield %s : f32
      } else {
        scf.yield %zero : f32
      }
      // Over all K slots (a constant trip count, unrolled), the kept ones
      // adding: the host's vectorizer then sees straight-line code per h.
      %k = scf.for %n = %c0 to %cK step %c1 iter_args(%acc = %p) -> (f32) {
        %in = arith.cmpi ult, %n, %kept : index
        %a = scf.if %in -> (f32) {
          %r = memref.load %rows[%n] : memref<?xindex>
          %wv = memref.load %weights[%n] : memref<?xf32>
          %v = memref.load %y[%r, %h] : memref<?x?xf32>
          %m = arith.mulf %wv, %v : f32
          %sum = arith.addf %acc, %m : f32
          scf.yield %sum : f32
        } else {
          scf.yield %acc : f32
        }
        scf.yield %a : f32
      }
      %o = scf.if %hasAddend -> (f32) {
        %a = memref.load %addend[%t, %h] : memref<?x?xf32>
        %sum = arith.addf %k, %a : f32
        scf.yield %sum : f32
      } else {
        scf.yield %k : f32
      }
      memref.store %o, %out[%t, %h] : memref<?x?xf32>
    } {exec.spread}
  }
  return
}
