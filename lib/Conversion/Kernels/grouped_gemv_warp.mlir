// A grouped GEMM for small T on the CUDA target, with the experts' row ranges
// read on the device: C[r, n] = Σ_k A[r, k] · B[e, n, k] for the rows r in
// [offsets[e], offsets[e + 1]) of each expert e. One warp per (e, n) item
// (extent E·N): lane l reads k = l, l + 32, ... of B's row n (a warp reads
// consecutive elements, four such loads in flight per lane), four rows of A
// per pass over that row, and the four
// sums are butterfly reductions over the warp's shuffles; lane 0 writes them.
// An expert without rows costs its warps two loads of the offsets. The CUDA
// runtime runs this instead of cuBLAS when T <= the grouped GEMM's
// gemv_max_tokens: no read-back of the offsets, so no host synchronization,
// and it can be captured in a CUDA graph. The products are exact in f32 and
// summed in f32, in a different order than cuBLAS's or the CPU's.
// Rows of C that no expert's range covers are not written (the runtime zeroes
// C first). The offsets are clamped to [0, MR], so corrupt ones cannot make
// the kernel read or write outside its buffers.
// Launched with exec.lanes = 32. Parameters: E, N, K, MR (the rows' upper
// bound), DT, the element type of A and B (f32, bf16 or f16: their f32
// loads read DT, widened exactly), and CT, C's (f32, or bf16 / f16: the sums
// rounded to nearest even). Test:
// test/Conversion/Kernels/grouped_gemv_warp.mlir.
func.func @grouped_gemv_warp(
    %a: memref<?x?xf32> {exec.element_type = "DT", exec.shape = ["MR", "K"]},
    %b: memref<?x?x?xf32> {exec.element_type = "DT", exec.shape = ["E", "N", "K"]},
    %off: memref<?xi32> {exec.shape = ["E+1"]},
    %c: memref<?x?xf32> {exec.element_type = "CT", exec.shape = ["MR", "N"]},
    %T: index, %begin: index, %end: index)
    attributes {exec.lanes = 32 : i64,
                exec.kernel_params = {E = index, N = index, K = index, MR = index,
                                      DT = none, CT = none}} {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %c3 = arith.constant 3 : index
  %c4 = arith.constant 4 : index
  %c5 = arith.constant 5 : index
  %c32 = arith.constant 32 : index
  %c128 = arith.constant 128 : index
  %cN = exec.param "N" : index
  %cK = exec.param "K" : index
  %i0 = arith.constant 0 : i32
  %cMR = exec.param "MR" : index
  %iMR = arith.index_cast %cMR : index to i32
  %i16 = arith.constant 16 : i32
  %width = arith.constant 32 : i32
  %zero = arith.constant 0.0 : f32
  %lane = gpu.lane_id
  %lane0 = arith.cmpi eq, %lane, %c0 : index
  scf.for %item = %begin to %end step %c1 {
    %e = arith.divui %item, %cN : index
    %n = arith.remui %item, %cN : index
    %e1 = arith.addi %e, %c1 : index
    %o0 = memref.load %off[%e] : memref<?xi32>
    %o1 = memref.load %off[%e1] : memref<?xi32>
    %h0 = arith.maxsi %o1, %i0 : i32
    %hi = arith.minsi %h0, %iMR : i32
    %l0 = arith.maxsi %o0, %i0 : i32
    %lo = arith.minsi %l0, %hi : i32
    %r0 = arith.index_cast %lo : i32 to index
    %r1 = arith.index_cast %hi : i32 to index
    %last = arith.subi %r1, %c1 : index
    scf.for %r = %r0 to %r1 step %c4 {
      // Rows past the expert's last read its last row again; their sums are
      // not stored.
      %p1 = arith.addi %r, %c1 : index
      %p2 = arith.addi %r, %c2 : index
      %p3 = arith.addi %r, %c3 : index
      %q1 = arith.minui %p1, %last : index
      %q2 = arith.minui %p2, %last : index
      %q3 = arith.minui %p3, %last : index
      // k runs in blocks of 128: lane l of the block's four steps reads
      // k = kb + 32u + l, four independent loads of B in flight per lane
      // (the inner loop's four trips are unrolled by LLVM).
      %s:4 = scf.for %kb = %c0 to %cK step %c128
          iter_args(%x0 = %zero, %x1 = %zero, %x2 = %zero, %x3 = %zero)
          -> (f32, f32, f32, f32) {
        %u:4 = scf.for %ui = %c0 to %c4 step %c1
            iter_args(%v0 = %x0, %v1 = %x1, %v2 = %x2, %v3 = %x3)
            -> (f32, f32, f32, f32) {
          %u32 = arith.muli %ui, %c32 : index
          %kl = arith.addi %kb, %u32 : index
          %k = arith.addi %kl, %lane : index
          %ink = arith.cmpi ult, %k, %cK : index
          %y:4 = scf.if %ink -> (f32, f32, f32, f32) {
            %bv = memref.load %b[%e, %n, %k] : memref<?x?x?xf32>
            %a0 = memref.load %a[%r, %k] : memref<?x?xf32>
            %a1 = memref.load %a[%q1, %k] : memref<?x?xf32>
            %a2 = memref.load %a[%q2, %k] : memref<?x?xf32>
            %a3 = memref.load %a[%q3, %k] : memref<?x?xf32>
            %w0 = math.fma %a0, %bv, %v0 : f32
            %w1 = math.fma %a1, %bv, %v1 : f32
            %w2 = math.fma %a2, %bv, %v2 : f32
            %w3 = math.fma %a3, %bv, %v3 : f32
            scf.yield %w0, %w1, %w2, %w3 : f32, f32, f32, f32
          } else {
            scf.yield %v0, %v1, %v2, %v3 : f32, f32, f32, f32
          }
          scf.yield %y#0, %y#1, %y#2, %y#3 : f32, f32, f32, f32
        }
        scf.yield %u#0, %u#1, %u#2, %u#3 : f32, f32, f32, f32
      }
      %t:4 = scf.for %st = %c0 to %c5 step %c1
          iter_args(%z0 = %s#0, %z1 = %s#1, %z2 = %s#2, %z3 = %s#3)
          -> (f32, f32, f32, f32) {
        %sh = arith.index_cast %st : index to i32
        %d = arith.shrui %i16, %sh : i32
        %o0s, %ok0 = gpu.shuffle xor %z0, %d, %width : f32
        %o1s, %ok1 = gpu.shuffle xor %z1, %d, %width : f32
        %o2s, %ok2 = gpu.shuffle xor %z2, %d, %width : f32
        %o3s, %ok3 = gpu.shuffle xor %z3, %d, %width : f32
        %w0 = arith.addf %z0, %o0s : f32
        %w1 = arith.addf %z1, %o1s : f32
        %w2 = arith.addf %z2, %o2s : f32
        %w3 = arith.addf %z3, %o3s : f32
        scf.yield %w0, %w1, %w2, %w3 : f32, f32, f32, f32
      }
      scf.if %lane0 {
        memref.store %t#0, %c[%r, %n] : memref<?x?xf32>
        %in1 = arith.cmpi ult, %p1, %r1 : index
        scf.if %in1 {
          memref.store %t#1, %c[%p1, %n] : memref<?x?xf32>
        }
        %in2 = arith.cmpi ult, %p2, %r1 : index
        scf.if %in2 {
          memref.store %t#2, %c[%p2, %n] : memref<?x?xf32>
        }
        %in3 = arith.cmpi ult, %p3, %r1 : index
        scf.if %in3 {
          memref.store %t#3, %c[%p3, %n] : memref<?x?xf32>
        }
      }
    }
  }
  return
}
