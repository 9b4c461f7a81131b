// Noisy top-k gating's noise (moe.router with a noise weight; Shazeer et al.,
// 2017): each launch item is a token row t in [begin, end) (T rows), and
// when the run asked for noise (params[0] != 0, written by the runtime before
// every run: moert_session_set_router_noise)
//
//   logits[t, e] += f32(normal((base + t)·E + e) · softplus(Σ_h x[t, h] · wn[e, h]))
//
// base = params[3]: the row of the run's first token among all the tokens
// of the run (0 on one device; on a rank of a sharded artifact, the tokens
// of the ranks before it), so that a token's noise is its row's however
// the tokens are split.
//
// with the dot product accumulated in f32 in h order, softplus(s) =
// max(s, 0) + log1p(exp(-|s|)) and the normal value in f64 from the
// counter-based generator of docs/compiler.md ("Noisy top-k gating"):
// seed = params[2] << 32 | params[1], stream SALT (the router's),
//   mix(z) = splitmix64's finalizer of z + 0x9E3779B97F4A7C15,
//   bits(i) = mix(mix(mix(seed) ^ SALT) ^ i),
//   uniform(i) = ((bits(i) >> 11) + 0.5) / 2^53,
//   normal(i) = sqrt(-2 ln uniform(2i)) · cos(2π uniform(2i + 1)).
// The values depend on (seed, SALT, t, e) alone: the same at any thread
// count. Without noise (params[0] == 0) the kernel touches nothing.
// Test: test/Conversion/Kernels/router_noise.mlir.

func.func private @noise_mix(%z0: i64) -> i64 {
  %golden = arith.constant -7046029254386353131 : i64   // 0x9E3779B97F4A7C15
  %m1 = arith.constant -4658895280553007687 : i64       // 0xBF58476D1CE4E5B9
  %m2 = arith.constant -7723592293110705685 : i64       // 0x94D049BB133111EB
  %s30 = arith.constant 30 : i64
  %s27 = arith.constant 27 : i64
  %s31 = arith.constant 31 : i64
  %z = arith.addi %z0, %golden : i64
  %a0 = arith.shrui %z, %s30 : i64
  %a1 = arith.xori %z, %a0 : i64
  %a = arith.muli %a1, %m1 : i64
  %b0 = arith.shrui %a, %s27 : i64
  %b1 = arith.xori %a, %b0 : i64
  %b = arith.muli %b1, %m2 : i64
  %c0 = arith.shrui %b, %s31 : i64
  %c = arith.xori %b, %c0 : i64
  return %c : i64
}

// uniform in (0, 1) from the stream key k = mix(mix(seed) ^ SALT) and index i
func.func private @noise_uniform(%key: i64, %i: i64) -> f64 {
  %s11 = arith.constant 11 : i64
  %half = arith.constant 0.5 : f64
  %scale = arith.constant 1.1102230246251565e-16 : f64   // 2^-53
  %k = arith.xori %key, %i : i64
  %bits = func.call @noise_mix(%k) : (i64) -> i64
  %top = arith.shrui %bits, %s11 : i64
  %f = arith.uitofp %top : i64 to f64
  %g = arith.addf %f, %half : f64
  %u = arith.mulf %g, %scale : f64
  return %u : f64
}

func.func @router_noise(%x: memref<?x?xf32> {exec.shape = ["MT", "H"]},
                        %wn: memref<?x?xf32> {exec.shape = ["E", "H"]},
                        %params: memref<?xi32> {exec.shape = [4]},
                        %logits: memref<?x?xf32> {exec.shape = ["MT", "E"]},
                        %T: index, %begin: index, %end: index)
    attributes {exec.kernel_params = {MT = index, H = index, E = index, SALT = index}} {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %cE = exec.param "E" : index
  %cH = exec.param "H" : index
  %salt = exec.param "SALT" : index
  %z32 = arith.constant 0 : i32
  %on = memref.load %params[%c0] : memref<?xi32>
  %enabled = arith.cmpi ne, %on, %z32 : i32
  scf.if %enabled {
    %lo32 = memref.load %params[%c1] : memref<?xi32>
    %hi32 = memref.load %params[%c2] : memref<?xi32>
    %c3 = arith.constant 3 : index
    %base32 = memref.load %params[%c3] : memref<?xi32>
    %base = arith.index_castui %base32 : i32 to index
    %lo = arith.extui %lo32 : i32 to i64
    %hi = arith.extui %hi32 : i32 to i64
    %s32 = arith.constant 32 : i64
    %hiShift = arith.shli %hi, %s32 : i64
    %seed = arith.ori %hiShift, %lo : i64
    %m0 = func.call @noise_mix(%seed) : (i64) -> i64
    %salt64 = arith.index_cast %salt : index to i64
    %k0 = arith.xori %m0, %salt64 : i64
    %key = func.call @noise_mix(%k0) : (i64) -> i64
    %zero = arith.constant 0.0 : f32
    %dzero = arith.constant 0.0 : f64
    %one64 = arith.constant 1 : i64
    %minus2 = arith.constant -2.0 : f64
    %twoPi = arith.constant 6.283185307179586 : f64
    scf.for %t = %begin to %end step %c1 {
      scf.for %e = %c0 to %cE step %c1 {
        %s = scf.for %h = %c0 to %cH step %c1 iter_args(%acc = %zero) -> (f32) {
          %xv = memref.load %x[%t, %h] : memref<?x?xf32>
          %wv = memref.load %wn[%e, %h] : memref<?x?xf32>
          %p = arith.mulf %xv, %wv : f32
          %a = arith.addf %acc, %p : f32
          scf.yield %a : f32
        }
        // softplus(s) = max(s, 0) + log1p(exp(-|s|)), in f64
        %sd = arith.extf %s : f32 to f64
        %abs = math.absf %sd : f64
        %neg = arith.negf %abs : f64
        %ex = math.exp %neg : f64
        %lp = math.log1p %ex : f64
        %pos = arith.maximumf %sd, %dzero : f64
        %sp = arith.addf %pos, %lp : f64
        // normal((base + t)·E + e)
        %tg = arith.addi %t, %base : index
        %row = arith.muli %tg, %cE : index
        %ie = arith.addi %row, %e : index
        %i = arith.index_cast %ie : index to i64
        %i2 = arith.shli %i, %one64 : i64
        %i21 = arith.ori %i2, %one64 : i64
        %u1 = func.call @noise_uniform(%key, %i2) : (i64, i64) -> f64
        %u2 = func.call @noise_uniform(%key, %i21) : (i64, i64) -> f64
        %ln = math.log %u1 : f64
        %r2 = arith.mulf %ln, %minus2 : f64
        %r = math.sqrt %r2 : f64
        %angle = arith.mulf %u2, %twoPi : f64
        %cos = math.cos %angle : f64
        %z = arith.mulf %r, %cos : f64
        %n = arith.mulf %z, %sp : f64
        %n32 = arith.truncf %n : f64 to f32
        %l = memref.load %logits[%t, %e] : memref<?x?xf32>
        %l2 = arith.addf %l, %n32 : f32
        memref.store %l2, %logits[%t, %e] : memref<?x?xf32>
      }
    }
  }
  return
}
