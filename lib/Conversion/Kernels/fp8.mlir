// fp8 weights on the CUDA target: OCP e4m3 codes, one f32 scale per 128 x
// 128 block (docs/artifact.md, "fp8 weights"), read as bf16 values: each
// weight value is bf16(e4m3(code) · scale), rounded to nearest even, so that
// the generated decode kernel and the vendor GEMM over a dequantized copy
// compute the same products (the GEMM's A operand is bf16 too; each product
// is exact in f32 and the sums are f32). Generic kernels (exec.kernel_params),
// specialized by exec-specialize-kernel. Test:
// test/Conversion/Kernels/fp8.mlir.

// The e4m3 ("fn") code's value, decoded from its bits: sign, 4 exponent bits
// with bias 7, 3 mantissa bits; exponent 0 is subnormal (m · 2^-9); 0x7F and
// 0xFF are NaN (no artifact holds them: the compiler refuses them).
func.func private @e4m3_to_f32(%code: i8) -> f32 {
  %b = arith.extui %code : i8 to i32
  %c0 = arith.constant 0 : i32
  %c3 = arith.constant 3 : i32
  %c7 = arith.constant 7 : i32
  %c15 = arith.constant 15 : i32
  %c20 = arith.constant 20 : i32
  %c23 = arith.constant 23 : i32
  %c24 = arith.constant 24 : i32
  %c120 = arith.constant 120 : i32
  %c128 = arith.constant 128 : i32
  %qnan = arith.constant 2143289344 : i32
  %ulp = arith.constant 0.001953125 : f32
  %sign = arith.andi %b, %c128 : i32
  %signBit = arith.shli %sign, %c24 : i32
  %eHigh = arith.shrui %b, %c3 : i32
  %e = arith.andi %eHigh, %c15 : i32
  %m = arith.andi %b, %c7 : i32
  %eBiased = arith.addi %e, %c120 : i32
  %eBits = arith.shli %eBiased, %c23 : i32
  %mBits = arith.shli %m, %c20 : i32
  %normal = arith.ori %eBits, %mBits : i32
  %mf = arith.uitofp %m : i32 to f32
  %tiny = arith.mulf %mf, %ulp : f32
  %subnormal = arith.bitcast %tiny : f32 to i32
  %isSub = arith.cmpi eq, %e, %c0 : i32
  %mag = arith.select %isSub, %subnormal, %normal : i32
  %eMax = arith.cmpi eq, %e, %c15 : i32
  %mMax = arith.cmpi eq, %m, %c7 : i32
  %isNaN = arith.andi %eMax, %mMax : i1
  %magOrNaN = arith.select %isNaN, %qnan, %mag : i32
  %bits = arith.ori %magOrNaN, %signBit : i32
  %v = arith.bitcast %bits : i32 to f32
  return %v : f32
}

// bf16(e4m3(code) · scale) as the upper 16 bits of an f32 (round to nearest
// even; a NaN becomes the quiet NaN 0x7FC00000).
func.func private @fp8_weight_bits(%code: i8, %scale: f32) -> i32 {
  %x0 = func.call @e4m3_to_f32(%code) : (i8) -> f32
  %x = arith.mulf %x0, %scale : f32
  %bits = arith.bitcast %x : f32 to i32
  %one = arith.constant 1 : i32
  %c16 = arith.constant 16 : i32
  %bias = arith.constant 32767 : i32
  %top = arith.constant -65536 : i32
  %qnan = arith.constant 2143289344 : i32
  %hi = arith.shrui %bits, %c16 : i32
  %odd = arith.andi %hi, %one : i32
  %inc = arith.addi %bias, %odd : i32
  %sum = arith.addi %bits, %inc : i32
  %rounded = arith.andi %sum, %top : i32
  %nan = arith.cmpf uno, %x, %x : f32
  %v = arith.select %nan, %qnan, %rounded : i32
  return %v : i32
}

// One [N, K] matrix of an fp8 weight (its codes %b and its scales %s,
// [ceil(N / 128), ceil(K / 128)]) as bf16 bits in %out: the prefill
// engine's copy for the vendor GEMM. Each item is a row n.
func.func @dequant_fp8(
    %b: memref<?x?xi8> {exec.shape = ["N", "K"]},
    %s: memref<?x?xf32> {exec.shape = ["NB", "KB"]},
    %out: memref<?x?xi16> {exec.shape = ["N", "K"]},
    %T: index, %begin: index, %end: index)
    attributes {exec.kernel_params = {N = index, K = index, NB = index,
                                      KB = index}} {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c128 = arith.constant 128 : index
  %c16 = arith.constant 16 : i32
  %cK = exec.param "K" : index
  scf.for %n = %begin to %end step %c1 {
    %nb = arith.divui %n, %c128 : index
    scf.for %k = %c0 to %cK step %c1 {
      %kb = arith.divui %k, %c128 : index
      %scale = memref.load %s[%nb, %kb] : memref<?x?xf32>
      %code = memref.load %b[%n, %k] : memref<?x?xi8>
      %w = func.call @fp8_weight_bits(%code, %scale) : (i8, f32) -> i32
      %hi = arith.shrui %w, %c16 : i32
      %h = arith.trunci %hi : i32 to i16
      memref.store %h, %out[%n, %k] : memref<?x?xi16>
    } {exec.spread}
  }
  return
}

// The decode engine: grouped_gemv_warp's structure (one warp per (expert e,
// column n); extent E·N; four rows of A per pass over B's row; butterfly
// sums; offsets clamped to [0, MR]) over fp8 codes, decoded in registers:
// lane l reads the codes k = kb + 32u + l (u = 0..3) of each block of 128,
// whose scale one load gives every lane. A holds bf16 (the lowering rounds
// it, as for bf16 weights); C holds CT (f32, or bf16 / f16: the sums rounded).
func.func @grouped_gemv_fp8_warp(
    %a: memref<?x?xbf16> {exec.shape = ["MR", "K"]},
    %b: memref<?x?x?xi8> {exec.shape = ["E", "N", "K"]},
    %s: memref<?x?x?xf32> {exec.shape = ["E", "NB", "KB"]},
    %off: memref<?xi32> {exec.shape = ["E+1"]},
    %c: memref<?x?xf32> {exec.element_type = "CT", exec.shape = ["MR", "N"]},
    %T: index, %begin: index, %end: index)
    attributes {exec.lanes = 32 : i64,
                exec.kernel_params = {E = index, N = index, K = index, MR = index,
                                      NB = index, KB = index, CT = none}} {
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
    %nb = arith.divui %n, %c128 : index
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
      %p1 = arith.addi %r, %c1 : index
      %p2 = arith.addi %r, %c2 : index
      %p3 = arith.addi %r, %c3 : index
      %q1 = arith.minui %p1, %last : index
      %q2 = arith.minui %p2, %last : index
      %q3 = arith.minui %p3, %last : index
      %s4:4 = scf.for %kb = %c0 to %cK step %c128
          iter_args(%x0 = %zero, %x1 = %zero, %x2 = %zero, %x3 = %zero)
          -> (f32, f32, f32, f32) {
        %blk = arith.divui %kb, %c128 : index
        %scale = memref.load %s[%e, %nb, %blk] : memref<?x?x?xf32>
        %u:4 = scf.for %ui = %c0 to %c4 step %c1
            iter_args(%v0 = %x0, %v1 = %x1, %v2 = %x2, %v3 = %x3)
            -> (f32, f32, f32, f32) {
          %u32 = arith.muli %ui, %c32 : index
          %kl = arith.addi %kb, %u32 : index
          %k = arith.addi %kl, %lane : index
          %ink = arith.cmpi ult, %k, %cK : index
          %y:4 = scf.if %ink -> (f32, f32, f32, f32) {
            %code = memref.load %b[%e, %n, %k] : memref<?x?x?xi8>
            %wbits = func.call @fp8_weight_bits(%code, %scale) : (i8, f32) -> i32
            %bv = arith.bitcast %wbits : i32 to f32
            %a0h = memref.load %a[%r, %k] : memref<?x?xbf16>
            %a1h = memref.load %a[%q1, %k] : memref<?x?xbf16>
            %a2h = memref.load %a[%q2, %k] : memref<?x?xbf16>
            %a3h = memref.load %a[%q3, %k] : memref<?x?xbf16>
            %a0 = arith.extf %a0h : bf16 to f32
            %a1 = arith.extf %a1h : bf16 to f32
            %a2 = arith.extf %a2h : bf16 to f32
            %a3 = arith.extf %a3h : bf16 to f32
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
          iter_args(%z0 = %s4#0, %z1 = %s4#1, %z2 = %s4#2, %z3 = %s4#3)
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

// The e4m3 code of an f32: round to nearest even, finite values beyond ±448
// saturating to 0x7E / 0xFE, the sign kept (-0.0 is 0x80), NaN and ±inf the
// NaN code of their sign (0x7F / 0xFF): test/reference/quant.py's
// encode_e4m3. Below 2^-6 (subnormal codes m · 2^-9) |x| · 2^9 is rounded
// to an integer by adding and subtracting 2^23; above, the f32's mantissa
// is rounded to 3 bits on its bits, and its exponent rebiased (127 -> 7).
func.func private @f32_to_e4m3(%x: f32) -> i8 {
  %bits = arith.bitcast %x : f32 to i32
  %c1 = arith.constant 1 : i32
  %c7 = arith.constant 7 : i32
  %c20 = arith.constant 20 : i32
  %c31 = arith.constant 31 : i32
  %c126 = arith.constant 126 : i32
  %c127 = arith.constant 127 : i32
  %rebias = arith.constant 960 : i32
  %halfUlp = arith.constant 524287 : i32
  %absMask = arith.constant 2147483647 : i32
  %minNormal = arith.constant 0.015625 : f32
  %c512 = arith.constant 512.0 : f32
  %magic = arith.constant 8388608.0 : f32
  %inf = arith.constant 0x7F800000 : f32
  %signBit = arith.shrui %bits, %c31 : i32
  %sign = arith.shli %signBit, %c7 : i32
  %u = arith.andi %bits, %absMask : i32
  %a = arith.bitcast %u : i32 to f32
  %t = arith.mulf %a, %c512 : f32
  %t1 = arith.addf %t, %magic : f32
  %t2 = arith.subf %t1, %magic : f32
  %subCode = arith.fptoui %t2 : f32 to i32
  %keep = arith.shrui %u, %c20 : i32
  %odd = arith.andi %keep, %c1 : i32
  %inc = arith.addi %halfUlp, %odd : i32
  %rounded = arith.addi %u, %inc : i32
  %top = arith.shrui %rounded, %c20 : i32
  %normal = arith.subi %top, %rebias : i32
  %sat = arith.minui %normal, %c126 : i32
  %isSub = arith.cmpf olt, %a, %minNormal : f32
  %mag0 = arith.select %isSub, %subCode, %sat : i32
  %isNaN = arith.cmpf uno, %x, %x : f32
  %isInf = arith.cmpf oeq, %a, %inf : f32
  %bad = arith.ori %isNaN, %isInf : i1
  %mag = arith.select %bad, %c127, %mag0 : i32
  %code = arith.ori %mag, %sign : i32
  %c = arith.trunci %code : i32 to i8
  return %c : i8
}

// The activations of an fp8 GEMM that cuBLASLt runs with block scales
// (sm_90: weights BLK128x128, activations VEC128; docs/runtime.md): each
// row r of A (type AT: f32, bf16 or f16, widened exactly) that lies in an
// expert's range [off[e], off[e + 1]) becomes e4m3 codes per block of 128
// along K, scale = amax / 448 (1 for a block of zeros), code =
// e4m3(a / scale) (test/reference/quant.py's quantize_fp8_rows). cuBLASLt
// wants each expert's row count a multiple of 8 and its scales
// [KB, rows] with rows contiguous, so expert e's M = off[e + 1] - off[e]
// rows go to its own region: rows base .. base + M8 - 1 of Q, base =
// roundup8(off[e]) + 16 e and M8 = roundup8(M) (moert/fp8.h's
// fp8ActGroupRow and fp8ActPaddedRows, by which the runtime's GEMMs read
// the regions; they never overlap, and QR = MR + 16 E + 8 rows, its
// fp8ActRows, hold them all), its scale (kb, i) at QS[KB ·
// base + kb · M8 + i]. The pad rows M .. M8 - 1 get zero codes and scale 1
// (their products are 0), written by the expert's rows i = j - M, j - 2M,
// ... . One item per row of A (extent rows(T)); rows past the last range
// write nothing. Lanes spread over the blocks of 128 (exec.spread); the
// offsets were validated on the host before the launch (the grouped GEMM
// reads them back), and a row whose search finds no range is skipped.
func.func @quantize_fp8_act(
    %a: memref<?x?xf32> {exec.element_type = "AT", exec.shape = ["MR", "K"]},
    %off: memref<?xi32> {exec.shape = ["E+1"]},
    %q: memref<?x?xi8> {exec.shape = ["QR", "K"]},
    %qs: memref<?xf32> {exec.shape = ["QS"]},
    %T: index, %begin: index, %end: index)
    attributes {exec.kernel_params = {E = index, K = index, KB = index, MR = index,
                                      QR = index, QS = index, AT = none}} {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c7 = arith.constant 7 : index
  %c8 = arith.constant 8 : index
  %c16 = arith.constant 16 : index
  %c128 = arith.constant 128 : index
  %zero = arith.constant 0.0 : f32
  %one = arith.constant 1.0 : f32
  %fp8Max = arith.constant 448.0 : f32
  %zeroCode = arith.constant 0 : i8
  %cE = exec.param "E" : index
  %cK = exec.param "K" : index
  %cKB = exec.param "KB" : index
  scf.for %r = %begin to %end step %c1 {
    %ri = arith.index_cast %r : index to i32
    // e: the experts whose range ends at or before r.
    %e = scf.for %j = %c0 to %cE step %c1 iter_args(%n = %c0) -> (index) {
      %j1 = arith.addi %j, %c1 : index
      %endJ = memref.load %off[%j1] : memref<?xi32>
      %before = arith.cmpi sle, %endJ, %ri : i32
      %step = arith.select %before, %c1, %c0 : index
      %n1 = arith.addi %n, %step : index
      scf.yield %n1 : index
    }
    %isRow = arith.cmpi ult, %e, %cE : index
    scf.if %isRow {
      %e1 = arith.addi %e, %c1 : index
      %o0i = memref.load %off[%e] : memref<?xi32>
      %o1i = memref.load %off[%e1] : memref<?xi32>
      %from = arith.cmpi sle, %o0i, %ri : i32
      %below = arith.cmpi slt, %ri, %o1i : i32
      %inRange = arith.andi %from, %below : i1
      scf.if %inRange {
        %o0 = arith.index_cast %o0i : i32 to index
        %o1 = arith.index_cast %o1i : i32 to index
        %m = arith.subi %o1, %o0 : index
        %m7 = arith.addi %m, %c7 : index
        %m8d = arith.divui %m7, %c8 : index
        %m8 = arith.muli %m8d, %c8 : index
        %b7 = arith.addi %o0, %c7 : index
        %b8d = arith.divui %b7, %c8 : index
        %b8 = arith.muli %b8d, %c8 : index
        %e16 = arith.muli %e, %c16 : index
        %base = arith.addi %b8, %e16 : index
        %i = arith.subi %r, %o0 : index
        %p = arith.addi %base, %i : index
        %sBase = arith.muli %base, %cKB : index
        %padFrom = arith.addi %m, %i : index
        scf.for %kb = %c0 to %cKB step %c1 {
          %k0 = arith.muli %kb, %c128 : index
          %kEnd = arith.addi %k0, %c128 : index
          %k1 = arith.minui %kEnd, %cK : index
          %amax = scf.for %k = %k0 to %k1 step %c1 iter_args(%mx = %zero) -> (f32) {
            %x = memref.load %a[%r, %k] : memref<?x?xf32>
            %ax = math.absf %x : f32
            %mx1 = arith.maximumf %mx, %ax : f32
            scf.yield %mx1 : f32
          }
          %positive = arith.cmpf ogt, %amax, %zero : f32
          %s0 = arith.divf %amax, %fp8Max : f32
          %scale = arith.select %positive, %s0, %one : f32
          %kbM = arith.muli %kb, %m8 : index
          %sRow = arith.addi %sBase, %kbM : index
          %sAt = arith.addi %sRow, %i : index
          memref.store %scale, %qs[%sAt] : memref<?xf32>
          scf.for %k = %k0 to %k1 step %c1 {
            %x = memref.load %a[%r, %k] : memref<?x?xf32>
            %y = arith.divf %x, %scale : f32
            %code = func.call @f32_to_e4m3(%y) : (f32) -> i8
            memref.store %code, %q[%p, %k] : memref<?x?xi8>
          }
          scf.for %j = %padFrom to %m8 step %m {
            %pj = arith.addi %base, %j : index
            scf.for %k = %k0 to %k1 step %c1 {
              memref.store %zeroCode, %q[%pj, %k] : memref<?x?xi8>
            }
            %sj = arith.addi %sRow, %j : index
            memref.store %one, %qs[%sj] : memref<?xf32>
          }
        } {exec.spread}
      }
    }
  }
  return
}
