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
