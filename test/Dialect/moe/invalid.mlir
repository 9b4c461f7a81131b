// One case per verifier error of the moe dialect (see dialects/moe/MoeOps.cpp
// and MoeAttrs.cpp); each message names the operand, dimension and value.
// RUN: moe-opt %s -split-input-file -verify-diagnostics

// routing: k >= 1
func.func @f(%l: tensor<?x8xf32>) {
  // expected-error@+1 {{routing: k must be at least 1, got 0}}
  %w, %i = moe.topk %l <k = 0> : tensor<?x8xf32> -> tensor<?x0xf32>, tensor<?x0xi32>
  return
}

// -----

// routing: epsilon >= 0
func.func @f(%l: tensor<?x8xf32>) {
  // expected-error@+1 {{routing: epsilon must be finite and >= 0, got -1.0}}
  %w, %i = moe.topk %l <k = 2, renormalize = true, epsilon = -1.0> : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  return
}

// -----

// routing: scaling_factor > 0
func.func @f(%l: tensor<?x8xf32>) {
  // expected-error@+1 {{routing: scaling_factor must be finite and > 0, got 0.0}}
  %w, %i = moe.topk %l <k = 2, scaling_factor = 0.0> : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  return
}

// -----

// routing: n_group >= 1
func.func @f(%l: tensor<?x8xf32>) {
  // expected-error@+1 {{routing: n_group must be at least 1, got 0}}
  %w, %i = moe.topk %l <k = 2, n_group = 0> : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  return
}

// -----

// routing: topk_group > n_group
func.func @f(%l: tensor<?x8xf32>) {
  // expected-error@+1 {{routing: topk_group must be in [1, n_group = 4], got 5}}
  %w, %i = moe.topk %l <k = 2, n_group = 4, topk_group = 5> : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  return
}

// -----

// routing: softmax_after_topk needs scoring none
func.func @f(%l: tensor<?x8xf32>) {
  // expected-error@+1 {{routing: softmax_after_topk selects on raw logits and needs scoring = none, got scoring = softmax}}
  %w, %i = moe.topk %l <k = 2, softmax_after_topk = true> : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  return
}

// -----

// routing: softmax_after_topk excludes renormalize
func.func @f(%l: tensor<?x8xf32>) {
  // expected-error@+1 {{routing: softmax_after_topk weights are already normalized; renormalize must be false}}
  %w, %i = moe.topk %l <k = 2, scoring = none, renormalize = true, softmax_after_topk = true> : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  return
}

// -----

// routing: k > E
func.func @f(%l: tensor<?x8xf32>) {
  // expected-error@+1 {{'moe.topk' op routing: k = 9 exceeds the number of experts E = 8}}
  %w, %i = moe.topk %l <k = 9> : tensor<?x8xf32> -> tensor<?x9xf32>, tensor<?x9xi32>
  return
}

// -----

// routing: E not divisible by n_group
func.func @f(%l: tensor<?x12xf32>) {
  // expected-error@+1 {{'moe.topk' op routing: E = 12 is not divisible by n_group = 5}}
  %w, %i = moe.topk %l <k = 2, n_group = 5, topk_group = 2> : tensor<?x12xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  return
}

// -----

// routing: top2_sum needs 2 experts per group
func.func @f(%l: tensor<?x8xf32>) {
  // expected-error@+1 {{'moe.topk' op routing: group_score = top2_sum needs at least 2 experts per group, got 1}}
  %w, %i = moe.topk %l <k = 2, n_group = 8, topk_group = 4> : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  return
}

// -----

// routing: k larger than the kept groups
func.func @f(%l: tensor<?x16xf32>) {
  // expected-error@+1 {{'moe.topk' op routing: k = 5 exceeds the experts in the topk_group = 1 kept groups of 4}}
  %w, %i = moe.topk %l <k = 5, n_group = 4, topk_group = 1> : tensor<?x16xf32> -> tensor<?x5xf32>, tensor<?x5xi32>
  return
}

// -----

// ffn: clamped_swiglu must be gated
func.func @f(%x: tensor<?x8xf32>, %o: tensor<3xi32>, %u: tensor<2x4x8xf32>, %d: tensor<2x8x4xf32>) {
  // expected-error@+1 {{ffn: clamped_swiglu is a gated activation; gated must be true}}
  %y = moe.expert_ffn %x, %o up %u down %d <activation = clamped_swiglu, gated = false> : (tensor<?x8xf32>, tensor<3xi32>, tensor<2x4x8xf32>, tensor<2x8x4xf32>) -> tensor<?x8xf32>
  return
}

// -----

// ffn: alpha > 0
func.func @f(%x: tensor<?x8xf32>, %o: tensor<3xi32>, %u: tensor<2x4x8xf32>, %d: tensor<2x8x4xf32>) {
  // expected-error@+1 {{ffn: alpha must be finite and > 0, got -1.0}}
  %y = moe.expert_ffn %x, %o gate %u up %u down %d <activation = clamped_swiglu, alpha = -1.0> : (tensor<?x8xf32>, tensor<3xi32>, tensor<2x4x8xf32>, tensor<2x4x8xf32>, tensor<2x8x4xf32>) -> tensor<?x8xf32>
  return
}

// -----

// ffn: limit > 0
func.func @f(%x: tensor<?x8xf32>, %o: tensor<3xi32>, %u: tensor<2x4x8xf32>, %d: tensor<2x8x4xf32>) {
  // expected-error@+1 {{ffn: limit must be finite and > 0, got 0.0}}
  %y = moe.expert_ffn %x, %o gate %u up %u down %d <activation = clamped_swiglu, limit = 0.0> : (tensor<?x8xf32>, tensor<3xi32>, tensor<2x4x8xf32>, tensor<2x4x8xf32>, tensor<2x8x4xf32>) -> tensor<?x8xf32>
  return
}

// -----

// capacity: factor > 0
func.func @f(%i: tensor<7x2xi32>) {
  // expected-error@+1 {{capacity: factor must be finite and > 0, got -1.25}}
  %c, %o, %r, %s = moe.dispatch %i experts(8) capacity <factor = -1.25> : tensor<7x2xi32> -> tensor<8xi32>, tensor<9xi32>, tensor<24xi32>, tensor<7x2xi32>
  return
}

// -----

// capacity: tokens >= 0
func.func @f(%i: tensor<7x2xi32>) {
  // expected-error@+1 {{capacity: tokens must be in [0, 1048576] (0: use factor), got -3}}
  %c, %o, %r, %s = moe.dispatch %i experts(8) capacity <tokens = -3> : tensor<7x2xi32> -> tensor<8xi32>, tensor<9xi32>, tensor<24xi32>, tensor<7x2xi32>
  return
}

// -----

// capacity: tokens at most 2^20 (rows are planned from it)
func.func @f(%i: tensor<7x2xi32>) {
  // expected-error@+1 {{capacity: tokens must be in [0, 1048576] (0: use factor), got 4611686018427387904}}
  %c, %o, %r, %s = moe.dispatch %i experts(8) capacity <tokens = 4611686018427387904> : tensor<7x2xi32> -> tensor<8xi32>, tensor<9xi32>, tensor<24xi32>, tensor<7x2xi32>
  return
}

// -----

// topk: at most 4096 experts (the routing kernels keep per-expert scratch on
// the stack; two million experts once crashed a run)
func.func @f(%l: tensor<?x2000000xf32>) {
  // expected-error@+1 {{'moe.topk' op has 2000000 experts, more than moec supports (4096)}}
  %w, %i = moe.topk %l <k = 2> : tensor<?x2000000xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  return
}

// -----

// block: F and H at most 2^20
func.func @f(%x: tensor<?x8xf32>, %wg: tensor<2x8xf32>, %u: tensor<2x2000000x8xf32>, %d: tensor<2x8x2000000xf32>) {
  // expected-error@+1 {{'moe.block' op up weight 'tensor<2x2000000x8xf32>' is larger than moec supports (E at most 4096, F and H at most 1048576)}}
  %y = moe.block %x router %wg experts(up %u, down %d, gate %u) routing #moe.routing<k = 1> ffn <activation = silu> : (tensor<?x8xf32>, tensor<2x8xf32>, tensor<2x2000000x8xf32>, tensor<2x8x2000000xf32>, tensor<2x2000000x8xf32>) -> tensor<?x8xf32>
  return
}

// -----

// expert_choice: capacity_factor > 0
func.func @f(%l: tensor<16x8xf32>) {
  // expected-error@+1 {{expert_choice: capacity_factor must be finite and > 0, got 0.0}}
  %w, %t, %o = moe.expert_choice %l <capacity_factor = 0.0> : tensor<16x8xf32> -> tensor<32xf32>, tensor<32xi32>, tensor<9xi32>
  return
}

// -----

// expert_choice over ranks: at least one, and rows known only at run time
func.func @f(%l: tensor<16x8xf32>) {
  // expected-error@+1 {{'moe.expert_choice' op ranks must be at least 1, got 0}}
  %w, %t, %o = moe.expert_choice %l <capacity_factor = 2.0> ranks(0) : tensor<16x8xf32> -> tensor<?xf32>, tensor<?xi32>, tensor<9xi32>
  return
}

// -----

func.func @f(%l: tensor<16x8xf32>) {
  // expected-error@+1 {{'moe.expert_choice' op row_weight dim 0 is 32, expected E * C = ?}}
  %w, %t, %o = moe.expert_choice %l <capacity_factor = 2.0> ranks(2) : tensor<16x8xf32> -> tensor<32xf32>, tensor<32xi32>, tensor<9xi32>
  return
}

// -----

// expert_choice: scoring must score
func.func @f(%l: tensor<16x8xf32>) {
  // expected-error@+1 {{expert_choice: scoring must be softmax or sigmoid}}
  %w, %t, %o = moe.expert_choice %l <scoring = none> : tensor<16x8xf32> -> tensor<16xf32>, tensor<16xi32>, tensor<9xi32>
  return
}

// -----

// weight: a stored format needs its scales (and the other way round)
// expected-error@+1 {{'moe.weight' op a stored format needs its scale tensor and the other way round ('format fp8_e4m3 scales "NAME"')}}
%w = moe.weight "w" from "m.safetensors" {format = 0 : i32} : tensor<4x8xf32>

// -----

// weight: fp8 scales come from a checkpoint
// expected-error@+1 {{'moe.weight' op a stored format describes checkpoint tensors; it needs 'from "file"'}}
%w = moe.weight "w" random(3) format fp8_e4m3 scales "s" : tensor<4x8xf32>

// -----

// weight: fp8 blocks are 2-D
// expected-error@+1 {{'moe.weight' op fp8_e4m3 scales [N, K] matrices in 128 x 128 blocks; the weight must have rank >= 2, got 'tensor<8xf32>'}}
%w = moe.weight "w" from "m.safetensors" format fp8_e4m3 scales "s" : tensor<8xf32>

// -----

// weight: MXFP4 groups of 32 along K
// expected-error@+1 {{'moe.weight' op mxfp4 stores each row in groups of 32 values; K (the last dimension) must be a multiple of 32, got 'tensor<2x4x40xf32>'}}
%w = moe.weight "w_blocks" from "m.safetensors" format mxfp4 scales "w_scales" : tensor<2x4x40xf32>

// -----

// weight: rows select whole mxfp4 rows, never K's groups
// expected-error@+1 {{'moe.weight' op 'rows' selects whole mxfp4 rows of an [E, N, K] tensor; on a rank-2 weight it would split K's groups of 32, got 'tensor<4x32xf32>'}}
%w = moe.weight "w_blocks" from "m.safetensors" format mxfp4 scales "w_scales" rows(0, 2) : tensor<4x32xf32>

// -----

// weight: rows need a step of at least 1 and a start below it
// expected-error@+1 {{'moe.weight' op rows(2, 2) must have step >= 1 and 0 <= start < step}}
%w = moe.weight "w" from "m.safetensors" rows(2, 2) : tensor<2x4x32xf32>

// -----

// weight: rows select from one tensor
// expected-error@+1 {{'moe.weight' op 'rows' selects along dimension 1 of one checkpoint tensor (no '{e}'); the weight must have rank 2 or 3, got 'tensor<2x4x32xf32>'}}
%w = moe.weight "w.{e}" from "m.safetensors" rows(0, 2) : tensor<2x4x32xf32>

// -----

// weight: fp8 codes are not selected by rows
// expected-error@+1 {{'moe.weight' op 'rows' does not select fp8 codes (their 128 x 128 scale blocks span rows)}}
%w = moe.weight "w" from "m.safetensors" format fp8_e4m3 scales "s" rows(0, 2) : tensor<2x4x32xf32>

// -----

// weight: the scales stack per expert as the weight does
// expected-error@+1 {{'moe.weight' op the scale tensor name 's' must be non-empty and stack per expert ('{e}') exactly when the weight does}}
%w = moe.weight "w.{e}" from "m.safetensors" format fp8_e4m3 scales "s" : tensor<2x4x8xf32>

// -----

// weight: empty name
// expected-error@+1 {{'moe.weight' op tensor name must not be empty}}
%w = moe.weight "" from "m.safetensors" : tensor<4x8xf32>

// -----

// weight: neither file nor value
// expected-error@+1 {{'moe.weight' op needs exactly one of 'from "file"' (a checkpoint), '= value' (inline data) and 'random(seed)' (synthetic)}}
%w = moe.weight "w" : tensor<4x8xf32>

// -----

// weight: both file and value
// expected-error@+1 {{'moe.weight' op needs exactly one of 'from "file"' (a checkpoint), '= value' (inline data) and 'random(seed)' (synthetic)}}
%w = moe.weight "w" from "m.safetensors" = dense<0.0> : tensor<4x8xf32> : tensor<4x8xf32>

// -----

// weight: both file and random
// expected-error@+1 {{'moe.weight' op needs exactly one of 'from "file"' (a checkpoint), '= value' (inline data) and 'random(seed)' (synthetic)}}
%w = moe.weight "w" from "m.safetensors" random(1) : tensor<4x8xf32>

// -----

// weight: random needs a last dimension
// expected-error@+1 {{'moe.weight' op random values are scaled by the last dimension; a rank-0 weight has none}}
%w = moe.weight "w" random(1) : tensor<f32>

// -----

// weight: dynamic shape
// expected-error@+1 {{'moe.weight' op result must have a static shape, got 'tensor<?x8xf32>'}}
%w = moe.weight "w" from "m.safetensors" : tensor<?x8xf32>

// -----

// weight: empty file name
// expected-error@+1 {{'moe.weight' op checkpoint file name must not be empty}}
%w = moe.weight "w" from "" : tensor<4x8xf32>

// -----

// weight: inline value of another type
// expected-error@+1 {{'moe.weight' op inline value type 'tensor<4x8xbf16>' must equal the result type 'tensor<4x8xf32>'}}
%w = moe.weight "w" = dense<0.0> : tensor<4x8xbf16> : tensor<4x8xf32>

// -----

// weight: per-expert placeholder with an inline value
// expected-error@+1 {{'moe.weight' op '{e}' stacks checkpoint tensors; it cannot be used with an inline value}}
%w = moe.weight "experts.{e}.w" = dense<0.0> : tensor<4x8xf32> : tensor<4x8xf32>

// -----

// weight: per-expert placeholder needs an expert dimension
// expected-error@+1 {{'moe.weight' op a per-expert weight ('{e}' in the name) needs a leading expert dimension, got 'tensor<f32>'}}
%w = moe.weight "experts.{e}.scale" from "m.safetensors" : tensor<f32>

// -----

// weight: integer element type
// expected-error@+1 {{'moe.weight' op result #0 must be ranked tensor of 32-bit float or bfloat16 type or 16-bit float values, but got 'tensor<4x8xi32>'}}
%w = moe.weight "w" from "m.safetensors" : tensor<4x8xi32>

// -----

// router: input rank
func.func @f(%x: tensor<72xf32>, %wg: tensor<12x72xf32>) {
  // expected-error@+1 {{'moe.router' op input must have rank 2 ([T, H]), got 'tensor<72xf32>'}}
  %l = moe.router %x, %wg : tensor<72xf32>, tensor<12x72xf32> -> tensor<?x12xf32>
  return
}

// -----

// router: weight rank
func.func @f(%x: tensor<?x72xf32>, %wg: tensor<12x72x1xf32>) {
  // expected-error@+1 {{'moe.router' op weight must have rank 2 ([E, H]), got 'tensor<12x72x1xf32>'}}
  %l = moe.router %x, %wg : tensor<?x72xf32>, tensor<12x72x1xf32> -> tensor<?x12xf32>
  return
}

// -----

// router: dynamic weight
func.func @f(%x: tensor<?x72xf32>, %wg: tensor<?x72xf32>) {
  // expected-error@+1 {{'moe.router' op weight must have a static shape, got 'tensor<?x72xf32>'}}
  %l = moe.router %x, %wg : tensor<?x72xf32>, tensor<?x72xf32> -> tensor<?x12xf32>
  return
}

// -----

// router: noise weight E
func.func @f(%x: tensor<?x72xf32>, %wg: tensor<12x72xf32>, %wn: tensor<8x72xf32>) {
  // expected-error@+1 {{'moe.router' op noise weight dim 0 is 8, expected E = 12}}
  %l = moe.router %x, %wg noise(%wn : tensor<8x72xf32>) : tensor<?x72xf32>, tensor<12x72xf32> -> tensor<?x12xf32>
  return
}

// -----

// router: noise weight H
func.func @f(%x: tensor<?x72xf32>, %wg: tensor<12x72xf32>, %wn: tensor<12x64xf32>) {
  // expected-error@+1 {{'moe.router' op noise weight dim 1 is 64, expected H = 72}}
  %l = moe.router %x, %wg noise(%wn : tensor<12x64xf32>) : tensor<?x72xf32>, tensor<12x72xf32> -> tensor<?x12xf32>
  return
}

// -----

// router: weight H
func.func @f(%x: tensor<?x72xf32>, %wg: tensor<12x64xf32>) {
  // expected-error@+1 {{'moe.router' op weight dim 1 is 64, expected H = 72}}
  %l = moe.router %x, %wg : tensor<?x72xf32>, tensor<12x64xf32> -> tensor<?x12xf32>
  return
}

// -----

// router: logits T
func.func @f(%x: tensor<?x72xf32>, %wg: tensor<12x72xf32>) {
  // expected-error@+1 {{'moe.router' op logits dim 0 is 5, expected T = ?}}
  %l = moe.router %x, %wg : tensor<?x72xf32>, tensor<12x72xf32> -> tensor<5x12xf32>
  return
}

// -----

// router: logits E
func.func @f(%x: tensor<?x72xf32>, %wg: tensor<12x72xf32>) {
  // expected-error@+1 {{'moe.router' op logits dim 1 is 8, expected E = 12}}
  %l = moe.router %x, %wg : tensor<?x72xf32>, tensor<12x72xf32> -> tensor<?x8xf32>
  return
}

// -----

// router: logits must be f32
func.func @f(%x: tensor<?x72xbf16>, %wg: tensor<12x72xbf16>) {
  // expected-error@+1 {{'moe.router' op result #0 must be ranked tensor of 32-bit float values, but got 'tensor<?x12xbf16>'}}
  %l = moe.router %x, %wg : tensor<?x72xbf16>, tensor<12x72xbf16> -> tensor<?x12xbf16>
  return
}

// -----

// router: bias E
func.func @f(%x: tensor<?x72xf32>, %wg: tensor<12x72xf32>, %b: tensor<8xf32>) {
  // expected-error@+1 {{'moe.router' op bias dim 0 is 8, expected E = 12}}
  %l = moe.router %x, %wg bias %b : tensor<?x72xf32>, tensor<12x72xf32>, tensor<8xf32> -> tensor<?x12xf32>
  return
}

// -----

// router: bias rank
func.func @f(%x: tensor<?x72xf32>, %wg: tensor<12x72xf32>, %b: tensor<1x12xf32>) {
  // expected-error@+1 {{'moe.router' op bias must have rank 1 ([E]), got 'tensor<1x12xf32>'}}
  %l = moe.router %x, %wg bias %b : tensor<?x72xf32>, tensor<12x72xf32>, tensor<1x12xf32> -> tensor<?x12xf32>
  return
}

// -----

// topk: dynamic E
func.func @f(%l: tensor<?x?xf32>) {
  // expected-error@+1 {{'moe.topk' op the number of experts (logits dim 1) must be static, got 'tensor<?x?xf32>'}}
  %w, %i = moe.topk %l <k = 2> : tensor<?x?xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  return
}

// -----

// topk: correction bias E
func.func @f(%l: tensor<?x8xf32>, %b: tensor<12xf32>) {
  // expected-error@+1 {{'moe.topk' op correction bias dim 0 is 12, expected E = 8}}
  %w, %i = moe.topk %l bias %b <k = 2> : tensor<?x8xf32>, tensor<12xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  return
}

// -----

// topk: weights k
func.func @f(%l: tensor<?x8xf32>) {
  // expected-error@+1 {{'moe.topk' op weights dim 1 is 3, expected k = 2}}
  %w, %i = moe.topk %l <k = 2> : tensor<?x8xf32> -> tensor<?x3xf32>, tensor<?x2xi32>
  return
}

// -----

// topk: indices T
func.func @f(%l: tensor<4x8xf32>) {
  // expected-error@+1 {{'moe.topk' op indices dim 0 is 5, expected T = 4}}
  %w, %i = moe.topk %l <k = 2> : tensor<4x8xf32> -> tensor<4x2xf32>, tensor<5x2xi32>
  return
}

// -----

// topk: indices must be i32
func.func @f(%l: tensor<4x8xf32>) {
  // expected-error@+1 {{'moe.topk' op result #1 must be ranked tensor of 32-bit signless integer values, but got 'tensor<4x2xi64>'}}
  %w, %i = moe.topk %l <k = 2> : tensor<4x8xf32> -> tensor<4x2xf32>, tensor<4x2xi64>
  return
}

// -----

// mixture: scaling
func.func @f(%l: tensor<?x8xf32>) {
  // expected-error@+1 {{'moe.mixture' op scaling_factor must be finite and > 0, got -1}}
  %w, %i = moe.mixture softmax %l {scaling_factor = -1.0 : f64} : tensor<?x8xf32> -> tensor<?x8xf32>, tensor<?x8xi32>
  return
}

// -----

// mixture: one slot per expert
func.func @f(%l: tensor<?x8xf32>) {
  // expected-error@+1 {{'moe.mixture' op weights dim 1 is 2, expected k = 8}}
  %w, %i = moe.mixture softmax %l : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  return
}

// -----

// expert_choice: R = E * C for static T
func.func @f(%l: tensor<16x8xf32>) {
  // expected-error@+1 {{'moe.expert_choice' op row_weight dim 0 is 24, expected E * C = 32}}
  %w, %t, %o = moe.expert_choice %l <capacity_factor = 2.0> : tensor<16x8xf32> -> tensor<24xf32>, tensor<32xi32>, tensor<9xi32>
  return
}

// -----

// expert_choice: R dynamic for dynamic T
func.func @f(%l: tensor<?x8xf32>) {
  // expected-error@+1 {{'moe.expert_choice' op row_token dim 0 is 32, expected E * C = ?}}
  %w, %t, %o = moe.expert_choice %l <capacity_factor = 2.0> : tensor<?x8xf32> -> tensor<?xf32>, tensor<32xi32>, tensor<9xi32>
  return
}

// -----

// expert_choice: offsets E + 1
func.func @f(%l: tensor<16x8xf32>) {
  // expected-error@+1 {{'moe.expert_choice' op offsets dim 0 is 8, expected E + 1 = 9}}
  %w, %t, %o = moe.expert_choice %l <capacity_factor = 2.0> : tensor<16x8xf32> -> tensor<32xf32>, tensor<32xi32>, tensor<8xi32>
  return
}

// -----

// dispatch: experts >= 1
func.func @f(%i: tensor<7x2xi32>) {
  // expected-error@+1 {{'moe.dispatch' op experts must be at least 1, got 0}}
  %c, %o, %r, %s = moe.dispatch %i experts(0) : tensor<7x2xi32> -> tensor<8xi32>, tensor<9xi32>, tensor<14xi32>, tensor<7x2xi32>
  return
}

// -----

// dispatch: k static
func.func @f(%i: tensor<7x?xi32>) {
  // expected-error@+1 {{'moe.dispatch' op k (indices dim 1) must be static}}
  %c, %o, %r, %s = moe.dispatch %i experts(8) : tensor<7x?xi32> -> tensor<8xi32>, tensor<9xi32>, tensor<?xi32>, tensor<7x?xi32>
  return
}

// -----

// dispatch: k > E
func.func @f(%i: tensor<7x2xi32>) {
  // expected-error@+1 {{'moe.dispatch' op k = 2 exceeds the number of experts E = 1}}
  %c, %o, %r, %s = moe.dispatch %i experts(1) : tensor<7x2xi32> -> tensor<1xi32>, tensor<2xi32>, tensor<14xi32>, tensor<7x2xi32>
  return
}

// -----

// dispatch: block >= 1
func.func @f(%i: tensor<7x2xi32>) {
  // expected-error@+1 {{'moe.dispatch' op block must be at least 1, got 0}}
  %c, %o, %r, %s = moe.dispatch %i experts(8) {block = 0} : tensor<7x2xi32> -> tensor<8xi32>, tensor<9xi32>, tensor<14xi32>, tensor<7x2xi32>
  return
}

// -----

// dispatch: reroute needs probabilities
func.func @f(%i: tensor<7x2xi32>) {
  // expected-error@+1 {{'moe.dispatch' op overflow = reroute needs the router probabilities: add 'probs %p'}}
  %c, %o, %r, %s = moe.dispatch %i experts(8) capacity <overflow = reroute> : tensor<7x2xi32> -> tensor<8xi32>, tensor<9xi32>, tensor<16xi32>, tensor<7x2xi32>
  return
}

// -----

// dispatch: probabilities without reroute
func.func @f(%i: tensor<7x2xi32>, %p: tensor<7x8xf32>) {
  // expected-error@+1 {{'moe.dispatch' op probs are used only by overflow = reroute}}
  %c, %o, %r, %s = moe.dispatch %i probs %p experts(8) : tensor<7x2xi32>, tensor<7x8xf32> -> tensor<8xi32>, tensor<9xi32>, tensor<14xi32>, tensor<7x2xi32>
  return
}

// -----

// dispatch: probabilities shape
func.func @f(%i: tensor<7x2xi32>, %p: tensor<7x6xf32>) {
  // expected-error@+1 {{'moe.dispatch' op probs dim 1 is 6, expected E = 8}}
  %c, %o, %r, %s = moe.dispatch %i probs %p experts(8) capacity <overflow = reroute> : tensor<7x2xi32>, tensor<7x6xf32> -> tensor<8xi32>, tensor<9xi32>, tensor<16xi32>, tensor<7x2xi32>
  return
}

// -----

// dispatch: counts E
func.func @f(%i: tensor<7x2xi32>) {
  // expected-error@+1 {{'moe.dispatch' op counts dim 0 is 9, expected E = 8}}
  %c, %o, %r, %s = moe.dispatch %i experts(8) : tensor<7x2xi32> -> tensor<9xi32>, tensor<9xi32>, tensor<14xi32>, tensor<7x2xi32>
  return
}

// -----

// dispatch: offsets E + 1
func.func @f(%i: tensor<7x2xi32>) {
  // expected-error@+1 {{'moe.dispatch' op offsets dim 0 is 8, expected E + 1 = 9}}
  %c, %o, %r, %s = moe.dispatch %i experts(8) : tensor<7x2xi32> -> tensor<8xi32>, tensor<8xi32>, tensor<14xi32>, tensor<7x2xi32>
  return
}

// -----

// dispatch: R without capacity
func.func @f(%i: tensor<7x2xi32>) {
  // expected-error@+1 {{'moe.dispatch' op row_token dim 0 is 14, expected R = 22}}
  %c, %o, %r, %s = moe.dispatch %i experts(8) {block = 2} : tensor<7x2xi32> -> tensor<8xi32>, tensor<9xi32>, tensor<14xi32>, tensor<7x2xi32>
  return
}

// -----

// dispatch: R with capacity
func.func @f(%i: tensor<7x2xi32>) {
  // expected-error@+1 {{'moe.dispatch' op row_token dim 0 is 14, expected R = 24}}
  %c, %o, %r, %s = moe.dispatch %i experts(8) capacity <factor = 1.25> : tensor<7x2xi32> -> tensor<8xi32>, tensor<9xi32>, tensor<14xi32>, tensor<7x2xi32>
  return
}

// -----

// dispatch: R dynamic for a dynamic T
func.func @f(%i: tensor<?x2xi32>) {
  // expected-error@+1 {{'moe.dispatch' op row_token dim 0 is 14, expected R = ?}}
  %c, %o, %r, %s = moe.dispatch %i experts(8) : tensor<?x2xi32> -> tensor<8xi32>, tensor<9xi32>, tensor<14xi32>, tensor<?x2xi32>
  return
}

// -----

// dispatch: slot_row
func.func @f(%i: tensor<7x2xi32>) {
  // expected-error@+1 {{'moe.dispatch' op slot_row dim 1 is 1, expected k = 2}}
  %c, %o, %r, %s = moe.dispatch %i experts(8) : tensor<7x2xi32> -> tensor<8xi32>, tensor<9xi32>, tensor<14xi32>, tensor<7x1xi32>
  return
}

// -----

// permute: R
func.func @f(%x: tensor<4x8xf32>, %r: tensor<6xi32>) {
  // expected-error@+1 {{'moe.permute' op result dim 0 is 4, expected R = 6}}
  %y = moe.permute %x, %r : tensor<4x8xf32>, tensor<6xi32> -> tensor<4x8xf32>
  return
}

// -----

// permute: H
func.func @f(%x: tensor<4x8xf32>, %r: tensor<6xi32>) {
  // expected-error@+1 {{'moe.permute' op result dim 1 is 9, expected H = 8}}
  %y = moe.permute %x, %r : tensor<4x8xf32>, tensor<6xi32> -> tensor<6x9xf32>
  return
}

// -----

// permute: dtype
func.func @f(%x: tensor<4x8xf32>, %r: tensor<6xi32>) {
  // expected-error@+1 {{'moe.permute' op result element type 'bf16' must match input element type 'f32'}}
  %y = moe.permute %x, %r : tensor<4x8xf32>, tensor<6xi32> -> tensor<6x8xbf16>
  return
}

// -----

// permute: row_token rank
func.func @f(%x: tensor<4x8xf32>, %r: tensor<6x1xi32>) {
  // expected-error@+1 {{'moe.permute' op row_token must have rank 1 ([R]), got 'tensor<6x1xi32>'}}
  %y = moe.permute %x, %r : tensor<4x8xf32>, tensor<6x1xi32> -> tensor<6x8xf32>
  return
}

// -----

// unpermute: row_token R
func.func @f(%y: tensor<6x8xf32>, %r: tensor<5xi32>) {
  // expected-error@+1 {{'moe.unpermute' op row_token dim 0 is 5, expected R = 6}}
  %x = moe.unpermute %y, %r : tensor<6x8xf32>, tensor<5xi32> -> tensor<4x8xf32>
  return
}

// -----

// unpermute: H
func.func @f(%y: tensor<6x8xf32>, %r: tensor<6xi32>) {
  // expected-error@+1 {{'moe.unpermute' op result dim 1 is 4, expected H = 8}}
  %x = moe.unpermute %y, %r : tensor<6x8xf32>, tensor<6xi32> -> tensor<4x4xf32>
  return
}

// -----

// unpermute: row_weight R
func.func @f(%y: tensor<6x8xf32>, %r: tensor<6xi32>, %w: tensor<5xf32>) {
  // expected-error@+1 {{'moe.unpermute' op row_weight dim 0 is 5, expected R = 6}}
  %x = moe.unpermute %y, %r weights %w : tensor<6x8xf32>, tensor<6xi32>, tensor<5xf32> -> tensor<4x8xf32>
  return
}

// -----

// unpermute: dynamic T needs the token count
func.func @f(%y: tensor<6x8xf32>, %r: tensor<6xi32>) {
  // expected-error@+1 {{'moe.unpermute' op a result with dynamic T needs the token count: add 'tokens(%t)'}}
  %x = moe.unpermute %y, %r : tensor<6x8xf32>, tensor<6xi32> -> tensor<?x8xf32>
  return
}

// -----

// unpermute: static T takes no token count
func.func @f(%y: tensor<6x8xf32>, %r: tensor<6xi32>, %t: index) {
  // expected-error@+1 {{'moe.unpermute' op a result with static T takes no 'tokens' operand}}
  %x = moe.unpermute %y, %r tokens(%t) : tensor<6x8xf32>, tensor<6xi32> -> tensor<4x8xf32>
  return
}

// -----

// unpermute: dtype
func.func @f(%y: tensor<6x8xf32>, %r: tensor<6xi32>) {
  // expected-error@+1 {{'moe.unpermute' op result element type 'f16' must match input element type 'f32'}}
  %x = moe.unpermute %y, %r : tensor<6x8xf32>, tensor<6xi32> -> tensor<4x8xf16>
  return
}

// -----

// grouped_matmul: weight rank
func.func @f(%x: tensor<?x8xf32>, %w: tensor<4x8xf32>, %o: tensor<3xi32>) {
  // expected-error@+1 {{'moe.grouped_matmul' op weight must have rank 3 ([E, N, K]), got 'tensor<4x8xf32>'}}
  %y = moe.grouped_matmul %x, %w, %o : tensor<?x8xf32>, tensor<4x8xf32>, tensor<3xi32> -> tensor<?x4xf32>
  return
}

// -----

// grouped_matmul: K
func.func @f(%x: tensor<?x8xf32>, %w: tensor<2x4x6xf32>, %o: tensor<3xi32>) {
  // expected-error@+1 {{'moe.grouped_matmul' op weight dim 2 is 6, expected K = 8}}
  %y = moe.grouped_matmul %x, %w, %o : tensor<?x8xf32>, tensor<2x4x6xf32>, tensor<3xi32> -> tensor<?x4xf32>
  return
}

// -----

// grouped_matmul: offsets E + 1
func.func @f(%x: tensor<?x8xf32>, %w: tensor<2x4x8xf32>, %o: tensor<2xi32>) {
  // expected-error@+1 {{'moe.grouped_matmul' op offsets dim 0 is 2, expected E + 1 = 3}}
  %y = moe.grouped_matmul %x, %w, %o : tensor<?x8xf32>, tensor<2x4x8xf32>, tensor<2xi32> -> tensor<?x4xf32>
  return
}

// -----

// grouped_matmul: offsets rank
func.func @f(%x: tensor<?x8xf32>, %w: tensor<2x4x8xf32>, %o: tensor<3x1xi32>) {
  // expected-error@+1 {{'moe.grouped_matmul' op offsets must have rank 1 ([E + 1]), got 'tensor<3x1xi32>'}}
  %y = moe.grouped_matmul %x, %w, %o : tensor<?x8xf32>, tensor<2x4x8xf32>, tensor<3x1xi32> -> tensor<?x4xf32>
  return
}

// -----

// grouped_matmul: R
func.func @f(%x: tensor<?x8xf32>, %w: tensor<2x4x8xf32>, %o: tensor<3xi32>) {
  // expected-error@+1 {{'moe.grouped_matmul' op result dim 0 is 5, expected R = ?}}
  %y = moe.grouped_matmul %x, %w, %o : tensor<?x8xf32>, tensor<2x4x8xf32>, tensor<3xi32> -> tensor<5x4xf32>
  return
}

// -----

// grouped_matmul: N
func.func @f(%x: tensor<?x8xf32>, %w: tensor<2x4x8xf32>, %o: tensor<3xi32>) {
  // expected-error@+1 {{'moe.grouped_matmul' op result dim 1 is 8, expected N = 4}}
  %y = moe.grouped_matmul %x, %w, %o : tensor<?x8xf32>, tensor<2x4x8xf32>, tensor<3xi32> -> tensor<?x8xf32>
  return
}

// -----

// grouped_matmul: dtype
func.func @f(%x: tensor<?x8xbf16>, %w: tensor<2x4x8xbf16>, %o: tensor<3xi32>) {
  // expected-error@+1 {{'moe.grouped_matmul' op result element type 'f32' must match input element type 'bf16'}}
  %y = moe.grouped_matmul %x, %w, %o : tensor<?x8xbf16>, tensor<2x4x8xbf16>, tensor<3xi32> -> tensor<?x4xf32>
  return
}

// -----

// glu: gate rank
func.func @f(%g: tensor<f32>) {
  // expected-error@+1 {{'moe.glu' op gate must have rank >= 1, got 'tensor<f32>'}}
  %y = moe.glu silu %g, %g : tensor<f32>, tensor<f32> -> tensor<f32>
  return
}

// -----

// glu: result rank
func.func @f(%g: tensor<?x4xf32>) {
  // expected-error@+1 {{'moe.glu' op result rank 1 must equal the gate rank 2}}
  %y = moe.glu silu %g, %g : tensor<?x4xf32>, tensor<?x4xf32> -> tensor<4xf32>
  return
}

// -----

// glu: alpha and limit only for clamped_swiglu
func.func @f(%g: tensor<?x4xf32>) {
  // expected-error@+1 {{'moe.glu' op alpha and limit apply only to clamped_swiglu}}
  %y = moe.glu silu %g, %g {limit = 3.0 : f64} : tensor<?x4xf32>, tensor<?x4xf32> -> tensor<?x4xf32>
  return
}

// -----

// glu: alpha and limit positive
func.func @f(%g: tensor<?x4xf32>) {
  // expected-error@+1 {{'moe.glu' op alpha and limit must be finite and > 0}}
  %y = moe.glu clamped_swiglu %g, %g {limit = -3.0 : f64} : tensor<?x4xf32>, tensor<?x4xf32> -> tensor<?x4xf32>
  return
}

// -----

// glu: gate and up types
func.func @f(%g: tensor<?x4xf32>, %u: tensor<?x5xf32>) {
  // expected-error@+1 {{'moe.glu' op up type 'tensor<?x5xf32>' must equal the gate type 'tensor<?x4xf32>'}}
  %y = moe.glu silu %g, %u : tensor<?x4xf32>, tensor<?x5xf32> -> tensor<?x4xf32>
  return
}

// -----

// glu: leading dims
func.func @f(%g: tensor<3x4xf32>) {
  // expected-error@+1 {{'moe.glu' op result dim 0 is 2, expected gate dim = 3}}
  %y = moe.glu silu %g, %g : tensor<3x4xf32>, tensor<3x4xf32> -> tensor<2x4xf32>
  return
}

// -----

// glu: F
func.func @f(%g: tensor<3x4xf32>) {
  // expected-error@+1 {{'moe.glu' op result dim 1 is 2, expected F = 4}}
  %y = moe.glu silu %g, %g : tensor<3x4xf32>, tensor<3x4xf32> -> tensor<3x2xf32>
  return
}

// -----

// glu: fused operand must have an even width
func.func @f(%g: tensor<3x5xf32>) {
  // expected-error@+1 {{'moe.glu' op the fused gate/up operand needs a static, even last dimension (2F), got 5}}
  %y = moe.glu silu %g : tensor<3x5xf32> -> tensor<3x2xf32>
  return
}

// -----

// glu: fused result is half as wide
func.func @f(%g: tensor<3x8xf32>) {
  // expected-error@+1 {{'moe.glu' op result dim 1 is 8, expected F = 4}}
  %y = moe.glu silu %g : tensor<3x8xf32> -> tensor<3x8xf32>
  return
}

// -----

// glu: dtype
func.func @f(%g: tensor<3x4xf32>) {
  // expected-error@+1 {{'moe.glu' op result element type 'bf16' must match gate element type 'f32'}}
  %y = moe.glu silu %g, %g : tensor<3x4xf32>, tensor<3x4xf32> -> tensor<3x4xbf16>
  return
}

// -----

// expert_ffn: gated needs a gate weight
func.func @f(%x: tensor<?x8xf32>, %o: tensor<3xi32>, %u: tensor<2x4x8xf32>, %d: tensor<2x8x4xf32>) {
  // expected-error@+1 {{'moe.expert_ffn' op ffn is gated (#moe.ffn<activation = silu>) but no gate weight is given}}
  %y = moe.expert_ffn %x, %o up %u down %d <activation = silu> : (tensor<?x8xf32>, tensor<3xi32>, tensor<2x4x8xf32>, tensor<2x8x4xf32>) -> tensor<?x8xf32>
  return
}

// -----

// expert_ffn: ungated takes no gate weight
func.func @f(%x: tensor<?x8xf32>, %o: tensor<3xi32>, %u: tensor<2x4x8xf32>, %d: tensor<2x8x4xf32>) {
  // expected-error@+1 {{'moe.expert_ffn' op ffn is not gated (#moe.ffn<activation = relu, gated = false>) but a gate weight is given}}
  %y = moe.expert_ffn %x, %o gate %u up %u down %d <activation = relu, gated = false> : (tensor<?x8xf32>, tensor<3xi32>, tensor<2x4x8xf32>, tensor<2x4x8xf32>, tensor<2x8x4xf32>) -> tensor<?x8xf32>
  return
}

// -----

// expert_ffn: up E
func.func @f(%x: tensor<?x8xf32>, %o: tensor<3xi32>, %u: tensor<3x4x8xf32>, %d: tensor<2x8x4xf32>) {
  // expected-error@+1 {{'moe.expert_ffn' op offsets dim 0 is 3, expected E + 1 = 4}}
  %y = moe.expert_ffn %x, %o up %u down %d <activation = relu, gated = false> : (tensor<?x8xf32>, tensor<3xi32>, tensor<3x4x8xf32>, tensor<2x8x4xf32>) -> tensor<?x8xf32>
  return
}

// -----

// expert_ffn: up H
func.func @f(%x: tensor<?x8xf32>, %o: tensor<3xi32>, %u: tensor<2x4x6xf32>, %d: tensor<2x8x4xf32>) {
  // expected-error@+1 {{'moe.expert_ffn' op up weight dim 2 is 6, expected H = 8}}
  %y = moe.expert_ffn %x, %o up %u down %d <activation = relu, gated = false> : (tensor<?x8xf32>, tensor<3xi32>, tensor<2x4x6xf32>, tensor<2x8x4xf32>) -> tensor<?x8xf32>
  return
}

// -----

// expert_ffn: gate shape equals up shape
func.func @f(%x: tensor<?x8xf32>, %o: tensor<3xi32>, %g: tensor<2x5x8xf32>, %u: tensor<2x4x8xf32>, %d: tensor<2x8x4xf32>) {
  // expected-error@+1 {{'moe.expert_ffn' op gate weight shape 'tensor<2x5x8xf32>' must equal up weight shape 'tensor<2x4x8xf32>'}}
  %y = moe.expert_ffn %x, %o gate %g up %u down %d <activation = silu> : (tensor<?x8xf32>, tensor<3xi32>, tensor<2x5x8xf32>, tensor<2x4x8xf32>, tensor<2x8x4xf32>) -> tensor<?x8xf32>
  return
}

// -----

// expert_ffn: down E
func.func @f(%x: tensor<?x8xf32>, %o: tensor<3xi32>, %u: tensor<2x4x8xf32>, %d: tensor<3x8x4xf32>) {
  // expected-error@+1 {{'moe.expert_ffn' op down weight dim 0 is 3, expected E = 2}}
  %y = moe.expert_ffn %x, %o up %u down %d <activation = relu, gated = false> : (tensor<?x8xf32>, tensor<3xi32>, tensor<2x4x8xf32>, tensor<3x8x4xf32>) -> tensor<?x8xf32>
  return
}

// -----

// expert_ffn: down H
func.func @f(%x: tensor<?x8xf32>, %o: tensor<3xi32>, %u: tensor<2x4x8xf32>, %d: tensor<2x4x4xf32>) {
  // expected-error@+1 {{'moe.expert_ffn' op down weight dim 1 is 4, expected H = 8}}
  %y = moe.expert_ffn %x, %o up %u down %d <activation = relu, gated = false> : (tensor<?x8xf32>, tensor<3xi32>, tensor<2x4x8xf32>, tensor<2x4x4xf32>) -> tensor<?x8xf32>
  return
}

// -----

// expert_ffn: down F
func.func @f(%x: tensor<?x8xf32>, %o: tensor<3xi32>, %u: tensor<2x4x8xf32>, %d: tensor<2x8x5xf32>) {
  // expected-error@+1 {{'moe.expert_ffn' op down weight dim 2 is 5, expected F = 4}}
  %y = moe.expert_ffn %x, %o up %u down %d <activation = relu, gated = false> : (tensor<?x8xf32>, tensor<3xi32>, tensor<2x4x8xf32>, tensor<2x8x5xf32>) -> tensor<?x8xf32>
  return
}

// -----

// expert_ffn: dynamic weights
func.func @f(%x: tensor<?x8xf32>, %o: tensor<3xi32>, %u: tensor<2x?x8xf32>, %d: tensor<2x8x4xf32>) {
  // expected-error@+1 {{'moe.expert_ffn' op up weight must have a static shape, got 'tensor<2x?x8xf32>'}}
  %y = moe.expert_ffn %x, %o up %u down %d <activation = relu, gated = false> : (tensor<?x8xf32>, tensor<3xi32>, tensor<2x?x8xf32>, tensor<2x8x4xf32>) -> tensor<?x8xf32>
  return
}

// -----

// expert_ffn: result rows
func.func @f(%x: tensor<6x8xf32>, %o: tensor<3xi32>, %u: tensor<2x4x8xf32>, %d: tensor<2x8x4xf32>) {
  // expected-error@+1 {{'moe.expert_ffn' op result dim 0 is 5, expected R = 6}}
  %y = moe.expert_ffn %x, %o up %u down %d <activation = relu, gated = false> : (tensor<6x8xf32>, tensor<3xi32>, tensor<2x4x8xf32>, tensor<2x8x4xf32>) -> tensor<5x8xf32>
  return
}

// -----

// expert_ffn: dtype
func.func @f(%x: tensor<6x8xf32>, %o: tensor<3xi32>, %u: tensor<2x4x8xbf16>, %d: tensor<2x8x4xbf16>) {
  // expected-error@+1 {{'moe.expert_ffn' op result element type 'bf16' must match input element type 'f32'}}
  %y = moe.expert_ffn %x, %o up %u down %d <activation = relu, gated = false> : (tensor<6x8xf32>, tensor<3xi32>, tensor<2x4x8xbf16>, tensor<2x8x4xbf16>) -> tensor<6x8xbf16>
  return
}

// -----

// combine: slot_row T
func.func @f(%y: tensor<?x8xf32>, %w: tensor<4x2xf32>, %s: tensor<5x2xi32>) {
  // expected-error@+1 {{'moe.combine' op slot_row dim 0 is 5, expected T = 4}}
  %o = moe.combine %y, %w, %s : (tensor<?x8xf32>, tensor<4x2xf32>, tensor<5x2xi32>) -> tensor<4x8xf32>
  return
}

// -----

// combine: slot_row k
func.func @f(%y: tensor<?x8xf32>, %w: tensor<4x2xf32>, %s: tensor<4x3xi32>) {
  // expected-error@+1 {{'moe.combine' op slot_row dim 1 is 3, expected k = 2}}
  %o = moe.combine %y, %w, %s : (tensor<?x8xf32>, tensor<4x2xf32>, tensor<4x3xi32>) -> tensor<4x8xf32>
  return
}

// -----

// combine: result T
func.func @f(%y: tensor<?x8xf32>, %w: tensor<4x2xf32>, %s: tensor<4x2xi32>) {
  // expected-error@+1 {{'moe.combine' op result dim 0 is ?, expected T = 4}}
  %o = moe.combine %y, %w, %s : (tensor<?x8xf32>, tensor<4x2xf32>, tensor<4x2xi32>) -> tensor<?x8xf32>
  return
}

// -----

// combine: result H
func.func @f(%y: tensor<?x8xf32>, %w: tensor<4x2xf32>, %s: tensor<4x2xi32>) {
  // expected-error@+1 {{'moe.combine' op result dim 1 is 6, expected H = 8}}
  %o = moe.combine %y, %w, %s : (tensor<?x8xf32>, tensor<4x2xf32>, tensor<4x2xi32>) -> tensor<4x6xf32>
  return
}

// -----

// combine: passthrough type
func.func @f(%y: tensor<?x8xf32>, %w: tensor<4x2xf32>, %s: tensor<4x2xi32>, %x: tensor<4x8xbf16>) {
  // expected-error@+1 {{'moe.combine' op passthrough type 'tensor<4x8xbf16>' must equal the result type 'tensor<4x8xf32>'}}
  %o = moe.combine %y, %w, %s passthrough %x : (tensor<?x8xf32>, tensor<4x2xf32>, tensor<4x2xi32>, tensor<4x8xbf16>) -> tensor<4x8xf32>
  return
}

// -----

// combine: addend type
func.func @f(%y: tensor<?x8xf32>, %w: tensor<4x2xf32>, %s: tensor<4x2xi32>, %a: tensor<3x8xf32>) {
  // expected-error@+1 {{'moe.combine' op addend type 'tensor<3x8xf32>' must equal the result type 'tensor<4x8xf32>'}}
  %o = moe.combine %y, %w, %s addend %a : (tensor<?x8xf32>, tensor<4x2xf32>, tensor<4x2xi32>, tensor<3x8xf32>) -> tensor<4x8xf32>
  return
}

// -----

// combine: dtype
func.func @f(%y: tensor<?x8xf32>, %w: tensor<4x2xf32>, %s: tensor<4x2xi32>) {
  // expected-error@+1 {{'moe.combine' op result element type 'f16' must match expert_out element type 'f32'}}
  %o = moe.combine %y, %w, %s : (tensor<?x8xf32>, tensor<4x2xf32>, tensor<4x2xi32>) -> tensor<4x8xf16>
  return
}

// -----

// combine: weights are f32
func.func @f(%y: tensor<?x8xbf16>, %w: tensor<4x2xbf16>, %s: tensor<4x2xi32>) {
  // expected-error@+1 {{'moe.combine' op operand #1 must be ranked tensor of 32-bit float values, but got 'tensor<4x2xbf16>'}}
  %o = moe.combine %y, %w, %s : (tensor<?x8xbf16>, tensor<4x2xbf16>, tensor<4x2xi32>) -> tensor<4x8xbf16>
  return
}

// -----

// shared_expert: weights F, H
func.func @f(%x: tensor<?x8xf32>, %u: tensor<4x8xf32>, %d: tensor<8x5xf32>) {
  // expected-error@+1 {{'moe.shared_expert' op down weight dim 1 is 5, expected F = 4}}
  %y = moe.shared_expert %x gate %u up %u down %d <activation = silu> : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<8x5xf32>) -> tensor<?x8xf32>
  return
}

// -----

// shared_expert: gated needs a gate weight
func.func @f(%x: tensor<?x8xf32>, %u: tensor<4x8xf32>, %d: tensor<8x4xf32>) {
  // expected-error@+1 {{'moe.shared_expert' op ffn is gated (#moe.ffn<activation = silu>) but no gate weight is given}}
  %y = moe.shared_expert %x up %u down %d <activation = silu> : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<8x4xf32>) -> tensor<?x8xf32>
  return
}

// -----

// shared_expert: up rank
func.func @f(%x: tensor<?x8xf32>, %u: tensor<2x4x8xf32>, %d: tensor<8x4xf32>) {
  // expected-error@+1 {{'moe.shared_expert' op up weight must have rank 2 ([F, H]), got 'tensor<2x4x8xf32>'}}
  %y = moe.shared_expert %x up %u down %d <activation = relu, gated = false> : (tensor<?x8xf32>, tensor<2x4x8xf32>, tensor<8x4xf32>) -> tensor<?x8xf32>
  return
}

// -----

// shared_expert: sigmoid gate shape
func.func @f(%x: tensor<?x8xf32>, %u: tensor<4x8xf32>, %d: tensor<8x4xf32>, %g: tensor<2x8xf32>) {
  // expected-error@+1 {{'moe.shared_expert' op sigmoid_gate dim 0 is 2, expected 1 = 1}}
  %y = moe.shared_expert %x gate %u up %u down %d sigmoid_gate %g <activation = silu> : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<8x4xf32>, tensor<2x8xf32>) -> tensor<?x8xf32>
  return
}

// -----

// shared_expert: sigmoid gate H
func.func @f(%x: tensor<?x8xf32>, %u: tensor<4x8xf32>, %d: tensor<8x4xf32>, %g: tensor<1x4xf32>) {
  // expected-error@+1 {{'moe.shared_expert' op sigmoid_gate dim 1 is 4, expected H = 8}}
  %y = moe.shared_expert %x gate %u up %u down %d sigmoid_gate %g <activation = silu> : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<8x4xf32>, tensor<1x4xf32>) -> tensor<?x8xf32>
  return
}

// -----

// shared_expert: result shape
func.func @f(%x: tensor<?x8xf32>, %u: tensor<4x8xf32>, %d: tensor<8x4xf32>) {
  // expected-error@+1 {{'moe.shared_expert' op result shape 'tensor<3x8xf32>' must equal the input shape 'tensor<?x8xf32>'}}
  %y = moe.shared_expert %x gate %u up %u down %d <activation = silu> : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<8x4xf32>) -> tensor<3x8xf32>
  return
}

// -----

// shared_expert: dtype
func.func @f(%x: tensor<?x8xf32>, %u: tensor<4x8xf32>, %d: tensor<8x4xf32>) {
  // expected-error@+1 {{'moe.shared_expert' op result element type 'bf16' must match input element type 'f32'}}
  %y = moe.shared_expert %x gate %u up %u down %d <activation = silu> : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<4x8xf32>, tensor<8x4xf32>) -> tensor<?x8xbf16>
  return
}

// -----

// block: router noise shape
func.func @f(%x: tensor<?x8xf32>, %wg: tensor<2x8xf32>, %wn: tensor<3x8xf32>, %u: tensor<2x4x8xf32>, %d: tensor<2x8x4xf32>) {
  // expected-error@+1 {{'moe.block' op router noise dim 0 is 3, expected E = 2}}
  %y = moe.block %x router %wg noise %wn experts(up %u, down %d, gate %u) routing #moe.routing<k = 1> ffn <activation = silu> : (tensor<?x8xf32>, tensor<2x8xf32>, tensor<3x8xf32>, tensor<2x4x8xf32>, tensor<2x8x4xf32>, tensor<2x4x8xf32>) -> tensor<?x8xf32>
  return
}

// -----

// block: router noise with expert choice
func.func @f(%x: tensor<?x8xf32>, %wg: tensor<2x8xf32>, %u: tensor<2x4x8xf32>, %d: tensor<2x8x4xf32>) {
  // expected-error@+1 {{'moe.block' op router noise (noisy top-k gating) applies only to token-choice routing}}
  %y = moe.block %x router %wg noise %wg experts(up %u, down %d, gate %u) routing #moe.expert_choice<> ffn <activation = silu> : (tensor<?x8xf32>, tensor<2x8xf32>, tensor<2x8xf32>, tensor<2x4x8xf32>, tensor<2x8x4xf32>, tensor<2x4x8xf32>) -> tensor<?x8xf32>
  return
}

// -----

// block: router H
func.func @f(%x: tensor<?x8xf32>, %wg: tensor<2x6xf32>, %u: tensor<2x4x8xf32>, %d: tensor<2x8x4xf32>) {
  // expected-error@+1 {{'moe.block' op router weight dim 1 is 6, expected H = 8}}
  %y = moe.block %x router %wg experts(up %u, down %d, gate %u) routing #moe.routing<k = 1> ffn <activation = silu> : (tensor<?x8xf32>, tensor<2x6xf32>, tensor<2x4x8xf32>, tensor<2x8x4xf32>, tensor<2x4x8xf32>) -> tensor<?x8xf32>
  return
}

// -----

// block: router bias E
func.func @f(%x: tensor<?x8xf32>, %wg: tensor<2x8xf32>, %b: tensor<3xf32>, %u: tensor<2x4x8xf32>, %d: tensor<2x8x4xf32>) {
  // expected-error@+1 {{'moe.block' op router bias dim 0 is 3, expected E = 2}}
  %y = moe.block %x router %wg bias %b experts(up %u, down %d, gate %u) routing #moe.routing<k = 1> ffn <activation = silu> : (tensor<?x8xf32>, tensor<2x8xf32>, tensor<3xf32>, tensor<2x4x8xf32>, tensor<2x8x4xf32>, tensor<2x4x8xf32>) -> tensor<?x8xf32>
  return
}

// -----

// block: correction bias E
func.func @f(%x: tensor<?x8xf32>, %wg: tensor<2x8xf32>, %b: tensor<3xf32>, %u: tensor<2x4x8xf32>, %d: tensor<2x8x4xf32>) {
  // expected-error@+1 {{'moe.block' op correction bias dim 0 is 3, expected E = 2}}
  %y = moe.block %x router %wg correction %b experts(up %u, down %d, gate %u) routing #moe.routing<k = 1> ffn <activation = silu> : (tensor<?x8xf32>, tensor<2x8xf32>, tensor<3xf32>, tensor<2x4x8xf32>, tensor<2x8x4xf32>, tensor<2x4x8xf32>) -> tensor<?x8xf32>
  return
}

// -----

// block: expert count
func.func @f(%x: tensor<?x8xf32>, %wg: tensor<2x8xf32>, %u: tensor<3x4x8xf32>, %d: tensor<3x8x4xf32>) {
  // expected-error@+1 {{'moe.block' op up weight dim 0 is 3, expected E = 2}}
  %y = moe.block %x router %wg experts(up %u, down %d, gate %u) routing #moe.routing<k = 1> ffn <activation = silu> : (tensor<?x8xf32>, tensor<2x8xf32>, tensor<3x4x8xf32>, tensor<3x8x4xf32>, tensor<3x4x8xf32>) -> tensor<?x8xf32>
  return
}

// -----

// block: k > E
func.func @f(%x: tensor<?x8xf32>, %wg: tensor<2x8xf32>, %u: tensor<2x4x8xf32>, %d: tensor<2x8x4xf32>) {
  // expected-error@+1 {{'moe.block' op routing: k = 3 exceeds the number of experts E = 2}}
  %y = moe.block %x router %wg experts(up %u, down %d, gate %u) routing #moe.routing<k = 3> ffn <activation = silu> : (tensor<?x8xf32>, tensor<2x8xf32>, tensor<2x4x8xf32>, tensor<2x8x4xf32>, tensor<2x4x8xf32>) -> tensor<?x8xf32>
  return
}

// -----

// block: shared expert widths
func.func @f(%x: tensor<?x8xf32>, %wg: tensor<2x8xf32>, %u: tensor<2x4x8xf32>, %d: tensor<2x8x4xf32>, %su: tensor<6x8xf32>, %sd: tensor<8x5xf32>) {
  // expected-error@+1 {{'moe.block' op shared down weight dim 1 is 5, expected F = 6}}
  %y = moe.block %x router %wg experts(up %u, down %d, gate %u) shared(up %su, down %sd, gate %su) routing #moe.routing<k = 1> ffn <activation = silu> : (tensor<?x8xf32>, tensor<2x8xf32>, tensor<2x4x8xf32>, tensor<2x8x4xf32>, tensor<2x4x8xf32>, tensor<6x8xf32>, tensor<8x5xf32>, tensor<6x8xf32>) -> tensor<?x8xf32>
  return
}

// -----

// block: shared expert gated like the experts
func.func @f(%x: tensor<?x8xf32>, %wg: tensor<2x8xf32>, %u: tensor<2x4x8xf32>, %d: tensor<2x8x4xf32>, %su: tensor<6x8xf32>, %sd: tensor<8x6xf32>) {
  // expected-error@+1 {{'moe.block' op ffn is gated (#moe.ffn<activation = silu>) but no shared gate weight is given}}
  %y = moe.block %x router %wg experts(up %u, down %d, gate %u) shared(up %su, down %sd) routing #moe.routing<k = 1> ffn <activation = silu> : (tensor<?x8xf32>, tensor<2x8xf32>, tensor<2x4x8xf32>, tensor<2x8x4xf32>, tensor<2x4x8xf32>, tensor<6x8xf32>, tensor<8x6xf32>) -> tensor<?x8xf32>
  return
}

// -----

// block: shared_expert_gate shape
func.func @f(%x: tensor<?x8xf32>, %wg: tensor<2x8xf32>, %u: tensor<2x4x8xf32>, %d: tensor<2x8x4xf32>, %su: tensor<6x8xf32>, %sd: tensor<8x6xf32>, %g: tensor<1x6xf32>) {
  // expected-error@+1 {{'moe.block' op shared_expert_gate dim 1 is 6, expected H = 8}}
  %y = moe.block %x router %wg experts(up %u, down %d, gate %u) shared(up %su, down %sd, gate %su) shared_expert_gate %g routing #moe.routing<k = 1> ffn <activation = silu> : (tensor<?x8xf32>, tensor<2x8xf32>, tensor<2x4x8xf32>, tensor<2x8x4xf32>, tensor<2x4x8xf32>, tensor<6x8xf32>, tensor<8x6xf32>, tensor<6x8xf32>, tensor<1x6xf32>) -> tensor<?x8xf32>
  return
}

// -----

// block: shared_expert_gate without a shared expert
func.func @f(%x: tensor<?x8xf32>, %wg: tensor<2x8xf32>, %u: tensor<2x4x8xf32>, %d: tensor<2x8x4xf32>, %g: tensor<1x8xf32>) {
  // expected-error@+1 {{'moe.block' op shared_expert_gate needs a shared expert}}
  %y = moe.block %x router %wg experts(up %u, down %d, gate %u) shared_expert_gate %g routing #moe.routing<k = 1> ffn <activation = silu> : (tensor<?x8xf32>, tensor<2x8xf32>, tensor<2x4x8xf32>, tensor<2x8x4xf32>, tensor<2x4x8xf32>, tensor<1x8xf32>) -> tensor<?x8xf32>
  return
}

// -----

// block: passthrough needs a capacity
func.func @f(%x: tensor<?x8xf32>, %wg: tensor<2x8xf32>, %u: tensor<2x4x8xf32>, %d: tensor<2x8x4xf32>) {
  // expected-error@+1 {{'moe.block' op dropped = passthrough needs a capacity (without one no token is dropped)}}
  %y = moe.block %x router %wg experts(up %u, down %d, gate %u) routing #moe.routing<k = 1> ffn <activation = silu> dropped = passthrough : (tensor<?x8xf32>, tensor<2x8xf32>, tensor<2x4x8xf32>, tensor<2x8x4xf32>, tensor<2x4x8xf32>) -> tensor<?x8xf32>
  return
}

// -----

// block: expert choice has its own capacity
func.func @f(%x: tensor<?x8xf32>, %wg: tensor<2x8xf32>, %u: tensor<2x4x8xf32>, %d: tensor<2x8x4xf32>) {
  // expected-error@+1 {{'moe.block' op expert-choice routing has its own capacity; remove 'capacity'}}
  %y = moe.block %x router %wg experts(up %u, down %d, gate %u) routing #moe.expert_choice<> ffn <activation = silu> capacity <factor = 2.0> : (tensor<?x8xf32>, tensor<2x8xf32>, tensor<2x4x8xf32>, tensor<2x8x4xf32>, tensor<2x4x8xf32>) -> tensor<?x8xf32>
  return
}

// -----

// block: expert choice takes no correction bias
func.func @f(%x: tensor<?x8xf32>, %wg: tensor<2x8xf32>, %b: tensor<2xf32>, %u: tensor<2x4x8xf32>, %d: tensor<2x8x4xf32>) {
  // expected-error@+1 {{'moe.block' op a correction bias applies only to token-choice routing}}
  %y = moe.block %x router %wg correction %b experts(up %u, down %d, gate %u) routing #moe.expert_choice<> ffn <activation = silu> : (tensor<?x8xf32>, tensor<2x8xf32>, tensor<2xf32>, tensor<2x4x8xf32>, tensor<2x8x4xf32>, tensor<2x4x8xf32>) -> tensor<?x8xf32>
  return
}

// -----

// block: expert choice drops nothing
func.func @f(%x: tensor<?x8xf32>, %wg: tensor<2x8xf32>, %u: tensor<2x4x8xf32>, %d: tensor<2x8x4xf32>) {
  // expected-error@+1 {{'moe.block' op dropped = passthrough applies only to token-choice routing}}
  %y = moe.block %x router %wg experts(up %u, down %d, gate %u) routing #moe.expert_choice<> ffn <activation = silu> dropped = passthrough : (tensor<?x8xf32>, tensor<2x8xf32>, tensor<2x4x8xf32>, tensor<2x8x4xf32>, tensor<2x4x8xf32>) -> tensor<?x8xf32>
  return
}

// -----

// block: routing must be a routing attribute
func.func @f(%x: tensor<?x8xf32>, %wg: tensor<2x8xf32>, %u: tensor<2x4x8xf32>, %d: tensor<2x8x4xf32>) {
  // expected-error@+1 {{'moe.block' op attribute 'routing' failed to satisfy constraint}}
  %y = moe.block %x router %wg experts(up %u, down %d, gate %u) routing "top2" ffn <activation = silu> : (tensor<?x8xf32>, tensor<2x8xf32>, tensor<2x4x8xf32>, tensor<2x8x4xf32>, tensor<2x4x8xf32>) -> tensor<?x8xf32>
  return
}

// -----

// block: result shape
func.func @f(%x: tensor<?x8xf32>, %wg: tensor<2x8xf32>, %u: tensor<2x4x8xf32>, %d: tensor<2x8x4xf32>) {
  // expected-error@+1 {{'moe.block' op result shape 'tensor<4x8xf32>' must equal the input shape 'tensor<?x8xf32>'}}
  %y = moe.block %x router %wg experts(up %u, down %d, gate %u) routing #moe.routing<k = 1> ffn <activation = silu> : (tensor<?x8xf32>, tensor<2x8xf32>, tensor<2x4x8xf32>, tensor<2x8x4xf32>, tensor<2x4x8xf32>) -> tensor<4x8xf32>
  return
}

// -----

// block: dtype
func.func @f(%x: tensor<?x8xf32>, %wg: tensor<2x8xf32>, %u: tensor<2x4x8xf32>, %d: tensor<2x8x4xf32>) {
  // expected-error@+1 {{'moe.block' op result element type 'bf16' must match input element type 'f32'}}
  %y = moe.block %x router %wg experts(up %u, down %d, gate %u) routing #moe.routing<k = 1> ffn <activation = silu> : (tensor<?x8xf32>, tensor<2x8xf32>, tensor<2x4x8xf32>, tensor<2x8x4xf32>, tensor<2x4x8xf32>) -> tensor<?x8xbf16>
  return
}

// -----

// router_stats: indices T
func.func @f(%l: tensor<4x8xf32>, %i: tensor<5x2xi32>) {
  // expected-error@+1 {{'moe.router_stats' op indices dim 0 is 5, expected T = 4}}
  %c, %cv, %lb, %z = moe.router_stats %l, %i : tensor<4x8xf32>, tensor<5x2xi32> -> tensor<8xi32>, tensor<f32>, tensor<f32>, tensor<f32>
  return
}

// -----

// router_stats: counts E
func.func @f(%l: tensor<4x8xf32>, %i: tensor<4x2xi32>) {
  // expected-error@+1 {{'moe.router_stats' op counts dim 0 is 6, expected E = 8}}
  %c, %cv, %lb, %z = moe.router_stats %l, %i : tensor<4x8xf32>, tensor<4x2xi32> -> tensor<6xi32>, tensor<f32>, tensor<f32>, tensor<f32>
  return
}

// -----

// router_stats: k > E
func.func @f(%l: tensor<4x8xf32>, %i: tensor<4x9xi32>) {
  // expected-error@+1 {{'moe.router_stats' op k = 9 exceeds the number of experts E = 8}}
  %c, %cv, %lb, %z = moe.router_stats %l, %i : tensor<4x8xf32>, tensor<4x9xi32> -> tensor<8xi32>, tensor<f32>, tensor<f32>, tensor<f32>
  return
}

// -----

// router_stats: scalars
func.func @f(%l: tensor<4x8xf32>, %i: tensor<4x2xi32>) {
  // expected-error@+1 {{'moe.router_stats' op z_loss must have rank 0 (a scalar), got 'tensor<1xf32>'}}
  %c, %cv, %lb, %z = moe.router_stats %l, %i : tensor<4x8xf32>, tensor<4x2xi32> -> tensor<8xi32>, tensor<f32>, tensor<f32>, tensor<1xf32>
  return
}

// -----

// expert_ffn: a gated FFN's biases include the gate's
func.func @f(%x: tensor<?x8xf32>, %o: tensor<3xi32>, %u: tensor<2x4x8xf32>, %d: tensor<2x8x4xf32>, %b4: tensor<2x4xf32>, %b8: tensor<2x8xf32>) {
  // expected-error@+1 {{'moe.expert_ffn' op expert biases need a gate bias exactly when the ffn is gated (#moe.ffn<activation = silu>)}}
  %y = moe.expert_ffn %x, %o gate %u up %u down %d biases(up %b4, down %b8) <activation = silu> : (tensor<?x8xf32>, tensor<3xi32>, tensor<2x4x8xf32>, tensor<2x4x8xf32>, tensor<2x8x4xf32>, tensor<2x4xf32>, tensor<2x8xf32>) -> tensor<?x8xf32>
  return
}

// -----

// expert_ffn: the down bias is [E, H]
func.func @f(%x: tensor<?x8xf32>, %o: tensor<3xi32>, %u: tensor<2x4x8xf32>, %d: tensor<2x8x4xf32>, %b4: tensor<2x4xf32>) {
  // expected-error@+1 {{'moe.expert_ffn' op down bias dim 1 is 4, expected H = 8}}
  %y = moe.expert_ffn %x, %o gate %u up %u down %d biases(up %b4, down %b4, gate %b4) <activation = silu> : (tensor<?x8xf32>, tensor<3xi32>, tensor<2x4x8xf32>, tensor<2x4x8xf32>, tensor<2x8x4xf32>, tensor<2x4xf32>, tensor<2x4xf32>, tensor<2x4xf32>) -> tensor<?x8xf32>
  return
}

// -----

// block: one bias per expert
func.func @f(%x: tensor<?x8xf32>, %wg: tensor<2x8xf32>, %u: tensor<2x4x8xf32>, %d: tensor<2x8x4xf32>, %b4: tensor<3x4xf32>, %b8: tensor<2x8xf32>) {
  // expected-error@+1 {{'moe.block' op up bias dim 0 is 3, expected E = 2}}
  %y = moe.block %x router %wg experts(up %u, down %d) biases(up %b4, down %b8) routing #moe.routing<k = 1> ffn <activation = relu, gated = false> : (tensor<?x8xf32>, tensor<2x8xf32>, tensor<2x4x8xf32>, tensor<2x8x4xf32>, tensor<3x4xf32>, tensor<2x8xf32>) -> tensor<?x8xf32>
  return
}

// -----

// exchange: enough slots for the experts
func.func @f(%xp: tensor<?x8xf32>, %off: tensor<5xi32>) {
  // expected-error@+1 {{'moe.exchange' op ranks · slots = 2 cannot hold the 4 experts}}
  %xr, %soff, %smap, %c = moe.exchange %xp, %off ranks(2) slots(1) : tensor<?x8xf32>, tensor<5xi32> -> tensor<?x8xf32>, tensor<2xi32>, tensor<1xi32>, tensor<2xi32>
  return
}

// -----

// exchange: counts [ranks · S]
func.func @f(%xp: tensor<?x8xf32>, %off: tensor<5xi32>) {
  // expected-error@+1 {{'moe.exchange' op counts dim 0 is 2, expected ranks · S = 4}}
  %xr, %soff, %smap, %c = moe.exchange %xp, %off ranks(2) slots(2) : tensor<?x8xf32>, tensor<5xi32> -> tensor<?x8xf32>, tensor<3xi32>, tensor<2xi32>, tensor<2xi32>
  return
}

// -----

// exchange: received rows as wide as the input's
func.func @f(%xp: tensor<?x8xf32>, %off: tensor<5xi32>) {
  // expected-error@+1 {{'moe.exchange' op received dim 1 is 4, expected H = 8}}
  %xr, %soff, %smap, %c = moe.exchange %xp, %off ranks(2) slots(2) : tensor<?x8xf32>, tensor<5xi32> -> tensor<?x4xf32>, tensor<3xi32>, tensor<2xi32>, tensor<4xi32>
  return
}

// -----

// exchange_back: the result has the dispatch's rows
func.func @f(%yr: tensor<?x8xf32>, %off: tensor<5xi32>, %soff: tensor<3xi32>, %c: tensor<4xi32>, %rt: tensor<12xi32>) {
  // expected-error@+1 {{'moe.exchange_back' op result dim 0 is ?, expected R = 12}}
  %y = moe.exchange_back %yr, %off, %soff, %c, %rt ranks(2) slots(2) : tensor<?x8xf32>, tensor<5xi32>, tensor<3xi32>, tensor<4xi32>, tensor<12xi32> -> tensor<?x8xf32>
  return
}

// -----

// expert_ffn: with a map, offsets has G + 1 entries
func.func @f(%x: tensor<?x8xf32>, %o: tensor<5xi32>, %m: tensor<2xi32>, %u: tensor<4x6x8xf32>, %d: tensor<4x8x6xf32>) {
  // expected-error@+1 {{'moe.expert_ffn' op offsets dim 0 is 5, expected E + 1 = 3}}
  %y = moe.expert_ffn %x, %o experts %m up %u down %d <activation = relu, gated = false> : (tensor<?x8xf32>, tensor<5xi32>, tensor<2xi32>, tensor<4x6x8xf32>, tensor<4x8x6xf32>) -> tensor<?x8xf32>
  return
}

// -----

// expert_ffn: a gate or down bias needs the up bias
func.func @f(%x: tensor<?x8xf32>, %o: tensor<3xi32>, %u: tensor<2x4x8xf32>, %d: tensor<2x8x4xf32>, %bd: tensor<2x8xf32>) {
  // expected-error@+1 {{'moe.expert_ffn' op expert biases come as up and down (and gate) together: a gate or down bias without an up bias}}
  %y = "moe.expert_ffn"(%x, %o, %u, %d, %bd) <{ffn = #moe.ffn<activation = relu, gated = false>, operandSegmentSizes = array<i32: 1, 1, 0, 0, 1, 1, 0, 1, 0>}> : (tensor<?x8xf32>, tensor<3xi32>, tensor<2x4x8xf32>, tensor<2x8x4xf32>, tensor<2x8xf32>) -> tensor<?x8xf32>
  return
}
