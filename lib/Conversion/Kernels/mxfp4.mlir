// MXFP4 weights on the CUDA target, in MXFP4 rows (docs/artifact.md, "MXFP4
// weights"): each row of an [N, K] matrix is its K / 2 code bytes (two e2m1
// codes each, the even k in the low nibble, as checkpoints store them), then
// its K / 32 e8m0 scales: RB = K / 2 + K / 32 bytes. A value e2m1(code) ·
// 2^(scale - 127) is exact in bf16 (two significant bits, a power-of-two
// scale), so the generated decode kernel and the vendor GEMM over a bf16
// copy compute the same products, against bf16 activations (as for fp8,
// Kernels/fp8.mlir); each product is exact in f32 and the sums are f32.
// Generic kernels (exec.kernel_params), specialized by
// exec-specialize-kernel. Test: test/Conversion/Kernels/mxfp4.mlir.

// The e2m1 code in the low 4 bits of %c, decoded from its bits: sign (bit
// 3), 2 exponent bits (bias 1), 1 mantissa bit; exponent 0 is subnormal
// (m · 0.5).
func.func private @e2m1_to_f32(%c: i32) -> f32 {
  %c0 = arith.constant 0 : i32
  %c1 = arith.constant 1 : i32
  %c3 = arith.constant 3 : i32
  %c8 = arith.constant 8 : i32
  %c22 = arith.constant 22 : i32
  %c23 = arith.constant 23 : i32
  %c28 = arith.constant 28 : i32
  %c126 = arith.constant 126 : i32
  %half = arith.constant 1056964608 : i32
  %sign = arith.andi %c, %c8 : i32
  %signBit = arith.shli %sign, %c28 : i32
  %eHigh = arith.shrui %c, %c1 : i32
  %e = arith.andi %eHigh, %c3 : i32
  %m = arith.andi %c, %c1 : i32
  %eBiased = arith.addi %e, %c126 : i32
  %eBits = arith.shli %eBiased, %c23 : i32
  %mBits = arith.shli %m, %c22 : i32
  %normal = arith.ori %eBits, %mBits : i32
  %hasM = arith.cmpi ne, %m, %c0 : i32
  %subnormal = arith.select %hasM, %half, %c0 : i32
  %isSub = arith.cmpi eq, %e, %c0 : i32
  %mag = arith.select %isSub, %subnormal, %normal : i32
  %bits = arith.ori %mag, %signBit : i32
  %v = arith.bitcast %bits : i32 to f32
  return %v : f32
}

// The e8m0 scale byte %s (0..255 in an i32): 2^(s - 127), exactly (0 gives
// 2^-127, an f32 subnormal); 255 is NaN (no artifact holds it).
func.func private @e8m0_to_f32(%s: i32) -> f32 {
  %c0 = arith.constant 0 : i32
  %c23 = arith.constant 23 : i32
  %c255 = arith.constant 255 : i32
  %tiny = arith.constant 4194304 : i32
  %qnan = arith.constant 2143289344 : i32
  %normal = arith.shli %s, %c23 : i32
  %isZero = arith.cmpi eq, %s, %c0 : i32
  %isNaN = arith.cmpi eq, %s, %c255 : i32
  %finite = arith.select %isZero, %tiny, %normal : i32
  %bits = arith.select %isNaN, %qnan, %finite : i32
  %v = arith.bitcast %bits : i32 to f32
  return %v : f32
}

// Code %byte's nibble (the low one, or the high one with %high) times the
// group's scale %scale: the weight value, exact.
func.func private @mxfp4_value(%byte: i8, %high: i1, %scale: f32) -> f32 {
  %b = arith.extui %byte : i8 to i32
  %c4 = arith.constant 4 : i32
  %c15 = arith.constant 15 : i32
  %shifted = arith.shrui %b, %c4 : i32
  %nibble = arith.select %high, %shifted, %b : i32
  %code = arith.andi %nibble, %c15 : i32
  %x = func.call @e2m1_to_f32(%code) : (i32) -> f32
  %v = arith.mulf %x, %scale : f32
  return %v : f32
}

// The e8m0 scale of code byte %j of row (%e, %n), read from the row's scales
// after its KH code bytes (16 code bytes per group of 32 values).
func.func private @mxfp4_scale(%b: memref<?x?x?xi8>, %e: index, %n: index, %j: index,
                               %kh: index) -> f32 {
  %c16 = arith.constant 16 : index
  %g = arith.divui %j, %c16 : index
  %at = arith.addi %kh, %g : index
  %s8 = memref.load %b[%e, %n, %at] : memref<?x?x?xi8>
  %s = arith.extui %s8 : i8 to i32
  %v = func.call @e8m0_to_f32(%s) : (i32) -> f32
  return %v : f32
}

// One [N, K] matrix of an mxfp4 weight (%b, [N, RB] bytes in MXFP4 rows) as
// bf16 bits in %out: the prefill engine's copy for the vendor GEMM. Each
// item is a row n; lane l of the row's lanes decodes code bytes l, l +
// lanes, ... (two values each).
func.func @dequant_mxfp4(
    %b: memref<?x?xi8> {exec.shape = ["N", "RB"]},
    %out: memref<?x?xi16> {exec.shape = ["N", "K"]},
    %T: index, %begin: index, %end: index)
    attributes {exec.kernel_params = {N = index, K = index, KH = index, RB = index}} {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %c16 = arith.constant 16 : index
  %i16 = arith.constant 16 : i32
  %false = arith.constant false
  %true = arith.constant true
  %cKH = exec.param "KH" : index
  scf.for %n = %begin to %end step %c1 {
    scf.for %j = %c0 to %cKH step %c1 {
      %g = arith.divui %j, %c16 : index
      %at = arith.addi %cKH, %g : index
      %s8 = memref.load %b[%n, %at] : memref<?x?xi8>
      %s = arith.extui %s8 : i8 to i32
      %scale = func.call @e8m0_to_f32(%s) : (i32) -> f32
      %byte = memref.load %b[%n, %j] : memref<?x?xi8>
      %lo = func.call @mxfp4_value(%byte, %false, %scale) : (i8, i1, f32) -> f32
      %hi = func.call @mxfp4_value(%byte, %true, %scale) : (i8, i1, f32) -> f32
      %k0 = arith.muli %j, %c2 : index
      %k1 = arith.addi %k0, %c1 : index
      // Exact bf16 values: their upper halves.
      %lb = arith.bitcast %lo : f32 to i32
      %hb = arith.bitcast %hi : f32 to i32
      %lt = arith.shrui %lb, %i16 : i32
      %ht = arith.shrui %hb, %i16 : i32
      %l16 = arith.trunci %lt : i32 to i16
      %h16 = arith.trunci %ht : i32 to i16
      memref.store %l16, %out[%n, %k0] : memref<?x?xi16>
      memref.store %h16, %out[%n, %k1] : memref<?x?xi16>
    } {exec.spread}
  }
  return
}

// The decode engine: grouped_gemv_warp's structure (one warp per (expert e,
// column n); extent E·N; four rows of A per pass over B's row; butterfly
// sums; offsets clamped to [0, MR]) over MXFP4 rows decoded in registers:
// lane l reads the code bytes j = jb + 32u + l (u = 0..3) of each block of
// 128 bytes (256 values), and its group's scale. A holds bf16; C holds CT
// (f32, or bf16 / f16: the sums rounded).
func.func @grouped_gemv_mxfp4_warp(
    %a: memref<?x?xbf16> {exec.shape = ["MR", "K"]},
    %b: memref<?x?x?xi8> {exec.shape = ["E", "N", "RB"]},
    %off: memref<?xi32> {exec.shape = ["E+1"]},
    %c: memref<?x?xf32> {exec.element_type = "CT", exec.shape = ["MR", "N"]},
    %T: index, %begin: index, %end: index)
    attributes {exec.lanes = 32 : i64,
                exec.kernel_params = {E = index, N = index, K = index, MR = index,
                                      KH = index, RB = index, CT = none}} {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %c3 = arith.constant 3 : index
  %c4 = arith.constant 4 : index
  %c5 = arith.constant 5 : index
  %c32 = arith.constant 32 : index
  %c128 = arith.constant 128 : index
  %cN = exec.param "N" : index
  %cKH = exec.param "KH" : index
  %i0 = arith.constant 0 : i32
  %cMR = exec.param "MR" : index
  %iMR = arith.index_cast %cMR : index to i32
  %i16 = arith.constant 16 : i32
  %width = arith.constant 32 : i32
  %zero = arith.constant 0.0 : f32
  %false = arith.constant false
  %true = arith.constant true
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
      %p1 = arith.addi %r, %c1 : index
      %p2 = arith.addi %r, %c2 : index
      %p3 = arith.addi %r, %c3 : index
      %q1 = arith.minui %p1, %last : index
      %q2 = arith.minui %p2, %last : index
      %q3 = arith.minui %p3, %last : index
      %s4:4 = scf.for %jb = %c0 to %cKH step %c128
          iter_args(%x0 = %zero, %x1 = %zero, %x2 = %zero, %x3 = %zero)
          -> (f32, f32, f32, f32) {
        %u:4 = scf.for %ui = %c0 to %c4 step %c1
            iter_args(%v0 = %x0, %v1 = %x1, %v2 = %x2, %v3 = %x3)
            -> (f32, f32, f32, f32) {
          %u32 = arith.muli %ui, %c32 : index
          %jl = arith.addi %jb, %u32 : index
          %j = arith.addi %jl, %lane : index
          %inj = arith.cmpi ult, %j, %cKH : index
          %y:4 = scf.if %inj -> (f32, f32, f32, f32) {
            %scale = func.call @mxfp4_scale(%b, %e, %n, %j, %cKH)
                : (memref<?x?x?xi8>, index, index, index, index) -> f32
            %byte = memref.load %b[%e, %n, %j] : memref<?x?x?xi8>
            %bl = func.call @mxfp4_value(%byte, %false, %scale) : (i8, i1, f32) -> f32
            %bh = func.call @mxfp4_value(%byte, %true, %scale) : (i8, i1, f32) -> f32
            %k0 = arith.muli %j, %c2 : index
            %k1 = arith.addi %k0, %c1 : index
            %a0l = memref.load %a[%r, %k0] : memref<?x?xbf16>
            %a0h = memref.load %a[%r, %k1] : memref<?x?xbf16>
            %a1l = memref.load %a[%q1, %k0] : memref<?x?xbf16>
            %a1h = memref.load %a[%q1, %k1] : memref<?x?xbf16>
            %a2l = memref.load %a[%q2, %k0] : memref<?x?xbf16>
            %a2h = memref.load %a[%q2, %k1] : memref<?x?xbf16>
            %a3l = memref.load %a[%q3, %k0] : memref<?x?xbf16>
            %a3h = memref.load %a[%q3, %k1] : memref<?x?xbf16>
            %f0l = arith.extf %a0l : bf16 to f32
            %f0h = arith.extf %a0h : bf16 to f32
            %f1l = arith.extf %a1l : bf16 to f32
            %f1h = arith.extf %a1h : bf16 to f32
            %f2l = arith.extf %a2l : bf16 to f32
            %f2h = arith.extf %a2h : bf16 to f32
            %f3l = arith.extf %a3l : bf16 to f32
            %f3h = arith.extf %a3h : bf16 to f32
            %w0 = math.fma %f0l, %bl, %v0 : f32
            %w1 = math.fma %f1l, %bl, %v1 : f32
            %w2 = math.fma %f2l, %bl, %v2 : f32
            %w3 = math.fma %f3l, %bl, %v3 : f32
            %z0 = math.fma %f0h, %bh, %w0 : f32
            %z1 = math.fma %f1h, %bh, %w1 : f32
            %z2 = math.fma %f2h, %bh, %w2 : f32
            %z3 = math.fma %f3h, %bh, %w3 : f32
            scf.yield %z0, %z1, %z2, %z3 : f32, f32, f32, f32
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
