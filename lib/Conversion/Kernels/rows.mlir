// Row kernels: each launch item is a row r in [begin, end) of buffers with
// ROWS rows (the rows at max_tokens); T is unused. Generic kernels
// (exec.kernel_params), specialized by exec-specialize-kernel. Tests:
// test/Conversion/Kernels/{glu,elementwise}.mlir.

// The f32 %x rounded to nearest even as bf16 bits (a NaN becomes the quiet
// NaN 0x7FC0), or as f16 bits: a 16-bit GEMM's A operand.
func.func private @round_to_bf16(%x: f32) -> i16 {
  %bits = arith.bitcast %x : f32 to i32
  %one = arith.constant 1 : i32
  %c16 = arith.constant 16 : i32
  %bias = arith.constant 32767 : i32
  %qnan = arith.constant 32704 : i16
  %hi = arith.shrui %bits, %c16 : i32
  %odd = arith.andi %hi, %one : i32
  %inc = arith.addi %bias, %odd : i32
  %sum = arith.addi %bits, %inc : i32
  %top = arith.shrui %sum, %c16 : i32
  %rounded = arith.trunci %top : i32 to i16
  %nan = arith.cmpf uno, %x, %x : f32
  %v = arith.select %nan, %qnan, %rounded : i16
  return %v : i16
}

func.func private @round_to_f16(%x: f32) -> i16 {
  %h = arith.truncf %x : f32 to f16
  %v = arith.bitcast %h : f16 to i16
  return %v : i16
}

// TO_F16 picks f16, else bf16.
func.func private @round16(%x: f32, %toF16: i1) -> i16 {
  %v = scf.if %toF16 -> i16 {
    %h = func.call @round_to_f16(%x) : (f32) -> i16
    scf.yield %h : i16
  } else {
    %b = func.call @round_to_bf16(%x) : (f32) -> i16
    scf.yield %b : i16
  }
  return %v : i16
}

// %x, or with %on %x rounded to bf16 (or f16 with %toF16) and widened back.
func.func private @round_act(%x: f32, %on: i1, %toF16: i1) -> f32 {
  %y = scf.if %on -> f32 {
    %v = func.call @round16(%x, %toF16) : (f32, i1) -> i16
    %w = func.call @widen16(%v, %toF16) : (i16, i1) -> f32
    scf.yield %w : f32
  } else {
    scf.yield %x : f32
  }
  return %y : f32
}

// moe.glu: out = act(gate) ⊙ up, in place in `gate` (act(up) in place in
// `up` without GATED). With OUT the result goes instead to `out`, of type OT
// (a bf16 or f16 `out` holds the result rounded to nearest even): the A
// operand of the down projection, with no pass in between. Row r's gate is
// gate[r, 0..F) and its up up[r, UOFF..UOFF + F), in rows of LD values: F
// and 0 for two buffers of F columns, or 2F and F for one GEMM's [gate | up]
// result (the same buffer passed as both; its projections fused). gate and
// up hold GT: f32, or the projections' 16-bit results (a 16-bit function's
// GEMMs write them rounded). With ACT16 (a function of bf16, or with TO_F16
// f16, activations) gate and up are rounded to that type as they are read,
// and so is the result (the projections' results and the GLU's, as the moe
// dialect rounds them). Exactly one activation flag is set: SILU, GELU (erf),
// GELU_TANH, RELU or CLAMPED (gpt-oss: the gate clamped above at LIMIT,
// x·σ(ALPHA·x); up clamped to ±LIMIT, plus one).
func.func @glu(%gate: memref<?x?xf32> {exec.if = "GATED", exec.element_type = "GT", exec.shape = ["ROWS", "LD"]},
               %up: memref<?x?xf32> {exec.element_type = "GT", exec.shape = ["ROWS", "LD"]},
               %out: memref<?x?xf32> {exec.if = "OUT", exec.element_type = "OT", exec.shape = ["ROWS", "F"]},
               %T: index, %begin: index, %end: index)
    attributes {exec.kernel_params = {ROWS = index, F = index, LD = index, UOFF = index,
                                      ALPHA = f32, LIMIT = f32, GT = none, OT = none,
                                      GATED = i1, OUT = i1, TO_F16 = i1, ACT16 = i1,
                                      SILU = i1, GELU = i1, GELU_TANH = i1, RELU = i1,
                                      CLAMPED = i1},
                exec.kernel_one_of = [["SILU", "GELU", "GELU_TANH", "RELU", "CLAMPED"]]} {
  %gated = exec.param "GATED" : i1
  %toOut = exec.param "OUT" : i1
  %toF16 = exec.param "TO_F16" : i1
  %act16 = exec.param "ACT16" : i1
  %silu = exec.param "SILU" : i1
  %gelu = exec.param "GELU" : i1
  %geluTanh = exec.param "GELU_TANH" : i1
  %relu = exec.param "RELU" : i1
  %cF = exec.param "F" : index
  %uoff = exec.param "UOFF" : index
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %zero = arith.constant 0.0 : f32
  %one = arith.constant 1.0 : f32
  %half = arith.constant 0.5 : f32
  scf.for %r = %begin to %end step %c1 {
    scf.for %f = %c0 to %cF step %c1 {
      %fu = arith.addi %f, %uoff : index
      %x0 = scf.if %gated -> f32 {
        %g = memref.load %gate[%r, %f] : memref<?x?xf32>
        scf.yield %g : f32
      } else {
        %u = memref.load %up[%r, %fu] : memref<?x?xf32>
        scf.yield %u : f32
      }
      %x = func.call @round_act(%x0, %act16, %toF16) : (f32, i1, i1) -> f32
      %a = scf.if %silu -> f32 {
        %nx = arith.negf %x : f32
        %ex = math.exp %nx : f32
        %den = arith.addf %one, %ex : f32
        %s = arith.divf %x, %den : f32
        scf.yield %s : f32
      } else {
        %a1 = scf.if %gelu -> f32 {
          %rsqrt2 = arith.constant 0.707106769 : f32
          %xs = arith.mulf %x, %rsqrt2 : f32
          %er = math.erf %xs : f32
          %p1 = arith.addf %one, %er : f32
          %hx = arith.mulf %half, %x : f32
          %g = arith.mulf %hx, %p1 : f32
          scf.yield %g : f32
        } else {
          %a2 = scf.if %geluTanh -> f32 {
            %k0 = arith.constant 0.797884583 : f32
            %k1 = arith.constant 0.044715 : f32
            %x2 = arith.mulf %x, %x : f32
            %x3 = arith.mulf %x2, %x : f32
            %kx3 = arith.mulf %k1, %x3 : f32
            %in = arith.addf %x, %kx3 : f32
            %arg = arith.mulf %k0, %in : f32
            %th = math.tanh %arg : f32
            %p1 = arith.addf %one, %th : f32
            %hx = arith.mulf %half, %x : f32
            %g = arith.mulf %hx, %p1 : f32
            scf.yield %g : f32
          } else {
            %a3 = scf.if %relu -> f32 {
              %m = arith.maximumf %x, %zero : f32
              scf.yield %m : f32
            } else { // CLAMPED
              %limit = exec.param "LIMIT" : f32
              %alpha = exec.param "ALPHA" : f32
              %g = arith.minimumf %x, %limit : f32
              %ag = arith.mulf %alpha, %g : f32
              %nag = arith.negf %ag : f32
              %ex = math.exp %nag : f32
              %den = arith.addf %one, %ex : f32
              %sig = arith.divf %one, %den : f32
              %c = arith.mulf %g, %sig : f32
              scf.yield %c : f32
            }
            scf.yield %a3 : f32
          }
          scf.yield %a2 : f32
        }
        scf.yield %a1 : f32
      }
      scf.if %gated {
        %u0 = memref.load %up[%r, %fu] : memref<?x?xf32>
        %u = func.call @round_act(%u0, %act16, %toF16) : (f32, i1, i1) -> f32
        %clamped = exec.param "CLAMPED" : i1
        %o = scf.if %clamped -> f32 {
          %limit = exec.param "LIMIT" : f32
          %nlimit = arith.negf %limit : f32
          %ulo = arith.maximumf %u, %nlimit : f32
          %uc = arith.minimumf %ulo, %limit : f32
          %u1 = arith.addf %uc, %one : f32
          %m = arith.mulf %u1, %a : f32
          scf.yield %m : f32
        } else {
          %m = arith.mulf %a, %u : f32
          scf.yield %m : f32
        }
        %or = func.call @round_act(%o, %act16, %toF16) : (f32, i1, i1) -> f32
        scf.if %toOut {
          memref.store %or, %out[%r, %f] : memref<?x?xf32>
        } else {
          memref.store %or, %gate[%r, %f] : memref<?x?xf32>
        }
      } else {
        %ar = func.call @round_act(%a, %act16, %toF16) : (f32, i1, i1) -> f32
        scf.if %toOut {
          memref.store %ar, %out[%r, %f] : memref<?x?xf32>
        } else {
          memref.store %ar, %up[%r, %fu] : memref<?x?xf32>
        }
      }
    } {exec.spread}
  }
  return
}

// The router's bias: a[r, c] += bias[c].
func.func @elementwise_bias(%a: memref<?x?xf32> {exec.shape = ["ROWS", "COLS"]},
                            %bias: memref<?xf32> {exec.shape = ["COLS"]},
                            %T: index, %begin: index, %end: index)
    attributes {exec.kernel_params = {ROWS = index, COLS = index}} {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %cC = exec.param "COLS" : index
  scf.for %r = %begin to %end step %c1 {
    scf.for %c = %c0 to %cC step %c1 {
      %v = memref.load %a[%r, %c] : memref<?x?xf32>
      %b = memref.load %bias[%c] : memref<?xf32>
      %s = arith.addf %v, %b : f32
      memref.store %s, %a[%r, %c] : memref<?x?xf32>
    } {exec.spread}
  }
  return
}

// The experts' biases (gpt-oss): a[r, c] += bias[e, c] for the expert e
// whose rows [offsets[e], offsets[e + 1]) hold r; rows at or past
// offsets[E] stay as they are (0).
func.func @expert_bias(%a: memref<?x?xf32> {exec.shape = ["ROWS", "COLS"]},
                       %bias: memref<?x?xf32> {exec.shape = ["E", "COLS"]},
                       %offsets: memref<?xi32> {exec.shape = ["E+1"]},
                       %T: index, %begin: index, %end: index)
    attributes {exec.kernel_params = {ROWS = index, COLS = index, E = index}} {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %cC = exec.param "COLS" : index
  %cE = exec.param "E" : index
  %end32 = memref.load %offsets[%cE] : memref<?xi32>
  %used = arith.index_cast %end32 : i32 to index
  scf.for %r = %begin to %end step %c1 {
    %inUse = arith.cmpi ult, %r, %used : index
    scf.if %inUse {
      // e = the number of experts after the first whose rows begin at or before r
      %e = scf.for %i = %c1 to %cE step %c1 iter_args(%n = %c0) -> (index) {
        %o32 = memref.load %offsets[%i] : memref<?xi32>
        %o = arith.index_cast %o32 : i32 to index
        %past = arith.cmpi ule, %o, %r : index
        %n1 = arith.addi %n, %c1 : index
        %next = arith.select %past, %n1, %n : index
        scf.yield %next : index
      }
      scf.for %c = %c0 to %cC step %c1 {
        %v = memref.load %a[%r, %c] : memref<?x?xf32>
        %b = memref.load %bias[%e, %c] : memref<?x?xf32>
        %s = arith.addf %v, %b : f32
        memref.store %s, %a[%r, %c] : memref<?x?xf32>
      } {exec.spread}
    }
  }
  return
}

// The experts' biases over a rank's slots (expert parallelism): as
// expert_bias over G groups, group g adding bias[map[g], c] (map: the slot
// map moe.exchange writes; a data-derived index, checked by
// exec-guard-kernel-indices).
func.func @expert_bias_mapped(%a: memref<?x?xf32> {exec.shape = ["ROWS", "COLS"]},
                              %bias: memref<?x?xf32> {exec.shape = ["EW", "COLS"]},
                              %offsets: memref<?xi32> {exec.shape = ["G+1"]},
                              %map: memref<?xi32> {exec.shape = ["G"]},
                              %T: index, %begin: index, %end: index)
    attributes {exec.kernel_params = {ROWS = index, COLS = index, G = index, EW = index}} {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %cC = exec.param "COLS" : index
  %cG = exec.param "G" : index
  %end32 = memref.load %offsets[%cG] : memref<?xi32>
  %used = arith.index_cast %end32 : i32 to index
  scf.for %r = %begin to %end step %c1 {
    %inUse = arith.cmpi ult, %r, %used : index
    scf.if %inUse {
      %g = scf.for %i = %c1 to %cG step %c1 iter_args(%n = %c0) -> (index) {
        %o32 = memref.load %offsets[%i] : memref<?xi32>
        %o = arith.index_cast %o32 : i32 to index
        %past = arith.cmpi ule, %o, %r : index
        %n1 = arith.addi %n, %c1 : index
        %next = arith.select %past, %n1, %n : index
        scf.yield %next : index
      }
      %e32 = memref.load %map[%g] : memref<?xi32>
      %e = arith.index_cast %e32 : i32 to index
      scf.for %c = %c0 to %cC step %c1 {
        %v = memref.load %a[%r, %c] : memref<?x?xf32>
        %b = memref.load %bias[%e, %c] : memref<?x?xf32>
        %s = arith.addf %v, %b : f32
        memref.store %s, %a[%r, %c] : memref<?x?xf32>
      } {exec.spread}
    }
  }
  return
}

// out = a + b (a residual).
func.func @elementwise_add(%a: memref<?x?xf32> {exec.shape = ["ROWS", "COLS"]},
                           %b: memref<?x?xf32> {exec.shape = ["ROWS", "COLS"]},
                           %out: memref<?x?xf32> {exec.shape = ["ROWS", "COLS"]},
                           %T: index, %begin: index, %end: index)
    attributes {exec.kernel_params = {ROWS = index, COLS = index}} {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %cC = exec.param "COLS" : index
  scf.for %r = %begin to %end step %c1 {
    scf.for %c = %c0 to %cC step %c1 {
      %x = memref.load %a[%r, %c] : memref<?x?xf32>
      %y = memref.load %b[%r, %c] : memref<?x?xf32>
      %s = arith.addf %x, %y : f32
      memref.store %s, %out[%r, %c] : memref<?x?xf32>
    } {exec.spread}
  }
  return
}

// The shared expert's gate: row r of y times sigmoid(Σ_h x[r, h] · g[h]).
// y holds YT (f32, or a 16-bit function's shared expert output: the product
// rounded as it is stored).
func.func @elementwise_sigmoid_scale(%x: memref<?x?xf32> {exec.shape = ["ROWS", "H"]},
                                     %g: memref<?x?xf32> {exec.shape = [1, "H"]},
                                     %y: memref<?x?xf32> {exec.element_type = "YT", exec.shape = ["ROWS", "COLS"]},
                                     %T: index, %begin: index, %end: index)
    attributes {exec.kernel_params = {ROWS = index, COLS = index, H = index, YT = none}} {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %cH = exec.param "H" : index
  %cC = exec.param "COLS" : index
  %zero = arith.constant 0.0 : f32
  %one = arith.constant 1.0 : f32
  scf.for %r = %begin to %end step %c1 {
    %dot = scf.for %h = %c0 to %cH step %c1 iter_args(%acc = %zero) -> (f32) {
      %a = memref.load %x[%r, %h] : memref<?x?xf32>
      %b = memref.load %g[%c0, %h] : memref<?x?xf32>
      %p = arith.mulf %a, %b : f32
      %s = arith.addf %acc, %p : f32
      scf.yield %s : f32
    }
    %n = arith.negf %dot : f32
    %ex = math.exp %n : f32
    %den = arith.addf %one, %ex : f32
    %sig = arith.divf %one, %den : f32
    scf.for %c = %c0 to %cC step %c1 {
      %v = memref.load %y[%r, %c] : memref<?x?xf32>
      %s = arith.mulf %sig, %v : f32
      memref.store %s, %y[%r, %c] : memref<?x?xf32>
    }
  }
  return
}

// out = a rounded to bf16 (or f16 with TO_F16) bits: a 16-bit GEMM's A
// operand, or the output of a function of 16-bit activations.
func.func @elementwise_round16(%a: memref<?x?xf32> {exec.shape = ["ROWS", "COLS"]},
                               %out: memref<?x?xi16> {exec.shape = ["ROWS", "COLS"]},
                               %T: index, %begin: index, %end: index)
    attributes {exec.kernel_params = {ROWS = index, COLS = index, TO_F16 = i1}} {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %cC = exec.param "COLS" : index
  %toF16 = exec.param "TO_F16" : i1
  scf.for %r = %begin to %end step %c1 {
    scf.for %c = %c0 to %cC step %c1 {
      %x = memref.load %a[%r, %c] : memref<?x?xf32>
      %v = func.call @round16(%x, %toF16) : (f32, i1) -> i16
      memref.store %v, %out[%r, %c] : memref<?x?xi16>
    } {exec.spread}
  }
  return
}

// The bf16 (or f16 with TO_F16) bits %v widened exactly to f32.
func.func private @widen16(%v: i16, %toF16: i1) -> f32 {
  %x = scf.if %toF16 -> f32 {
    %h = arith.bitcast %v : i16 to f16
    %f = arith.extf %h : f16 to f32
    scf.yield %f : f32
  } else {
    %c16 = arith.constant 16 : i32
    %w = arith.extui %v : i16 to i32
    %hi = arith.shli %w, %c16 : i32
    %f = arith.bitcast %hi : i32 to f32
    scf.yield %f : f32
  }
  return %x : f32
}

// a rounded to bf16 (or f16 with TO_F16) in place, kept as f32: an
// activation of a function of 16-bit activations where the moe dialect
// rounds to its dtype (a projection's result, say).
func.func @elementwise_round_in_place(%a: memref<?x?xf32> {exec.shape = ["ROWS", "COLS"]},
                                      %T: index, %begin: index, %end: index)
    attributes {exec.kernel_params = {ROWS = index, COLS = index, TO_F16 = i1}} {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %cC = exec.param "COLS" : index
  %toF16 = exec.param "TO_F16" : i1
  %true = arith.constant true
  scf.for %r = %begin to %end step %c1 {
    scf.for %c = %c0 to %cC step %c1 {
      %x = memref.load %a[%r, %c] : memref<?x?xf32>
      %y = func.call @round_act(%x, %true, %toF16) : (f32, i1, i1) -> f32
      memref.store %y, %a[%r, %c] : memref<?x?xf32>
    } {exec.spread}
  }
  return
}

// out = a's bf16 (or f16 with TO_F16) bits widened exactly to f32: the
// input of a function of 16-bit activations.
func.func @elementwise_widen16(%a: memref<?x?xi16> {exec.shape = ["ROWS", "COLS"]},
                               %out: memref<?x?xf32> {exec.shape = ["ROWS", "COLS"]},
                               %T: index, %begin: index, %end: index)
    attributes {exec.kernel_params = {ROWS = index, COLS = index, TO_F16 = i1}} {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %cC = exec.param "COLS" : index
  %toF16 = exec.param "TO_F16" : i1
  scf.for %r = %begin to %end step %c1 {
    scf.for %c = %c0 to %cC step %c1 {
      %v = memref.load %a[%r, %c] : memref<?x?xi16>
      %x = func.call @widen16(%v, %toF16) : (i16, i1) -> f32
      memref.store %x, %out[%r, %c] : memref<?x?xf32>
    } {exec.spread}
  }
  return
}
