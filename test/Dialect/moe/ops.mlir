// Round trip of every moe op: parse, print, parse again (custom and generic
// forms), and check the printed custom form.
// RUN: moe-opt %s | moe-opt | FileCheck %s
// RUN: moe-opt %s --mlir-print-op-generic | moe-opt | FileCheck %s

// CHECK-LABEL: func @weights
func.func @weights() -> (tensor<12x72xbf16>, tensor<12x40x72xf32>, tensor<2x3xf32>, tensor<12x40x72xbf16>) {
  // CHECK: moe.weight "model.layers.0.mlp.gate.weight" from "model.safetensors" : tensor<12x72xbf16>
  %0 = moe.weight "model.layers.0.mlp.gate.weight" from "model.safetensors" : tensor<12x72xbf16>
  // CHECK: moe.weight "model.layers.0.mlp.experts.{e}.gate_proj.weight" from "model.safetensors.index.json" : tensor<12x40x72xf32>
  %1 = moe.weight "model.layers.0.mlp.experts.{e}.gate_proj.weight" from "model.safetensors.index.json" : tensor<12x40x72xf32>
  // fp8 codes with 128 x 128 block scales, as DeepSeek-V3 ships them.
  // CHECK: moe.weight "model.layers.3.mlp.experts.{e}.up_proj.weight" from "model.safetensors" format fp8_e4m3 scales "model.layers.3.mlp.experts.{e}.up_proj.weight_scale_inv" : tensor<12x200x136xf32>
  %fp8 = moe.weight "model.layers.3.mlp.experts.{e}.up_proj.weight" from "model.safetensors" format fp8_e4m3 scales "model.layers.3.mlp.experts.{e}.up_proj.weight_scale_inv" : tensor<12x200x136xf32>
  // MXFP4 blocks, and gpt-oss's gate as every other row of its fused gate_up.
  // CHECK: moe.weight "model.layers.0.mlp.experts.gate_up_proj_blocks" from "model.safetensors" format mxfp4 scales "model.layers.0.mlp.experts.gate_up_proj_scales" rows(0, 2) : tensor<12x40x96xf32>
  %mx = moe.weight "model.layers.0.mlp.experts.gate_up_proj_blocks" from "model.safetensors" format mxfp4 scales "model.layers.0.mlp.experts.gate_up_proj_scales" rows(0, 2) : tensor<12x40x96xf32>
  // CHECK: moe.weight "model.layers.0.mlp.experts.gate_up_proj_bias" from "model.safetensors" rows(1, 2) : tensor<12x40xf32>
  %bias = moe.weight "model.layers.0.mlp.experts.gate_up_proj_bias" from "model.safetensors" rows(1, 2) : tensor<12x40xf32>
  // CHECK: moe.weight "inline" = dense<{{\[\[}}1.000000e+00, 2.000000e+00, 3.000000e+00], [4.000000e+00, 5.000000e+00, 6.000000e+00]]> : tensor<2x3xf32> : tensor<2x3xf32>
  %2 = moe.weight "inline" = dense<[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]> : tensor<2x3xf32> : tensor<2x3xf32>
  // CHECK: moe.weight "synthetic.{e}" random(42) : tensor<12x40x72xbf16>
  %3 = moe.weight "synthetic.{e}" random(42) : tensor<12x40x72xbf16>
  return %0, %1, %2, %3 : tensor<12x72xbf16>, tensor<12x40x72xf32>, tensor<2x3xf32>, tensor<12x40x72xbf16>
}

// CHECK-LABEL: func @router
func.func @router(%x: tensor<?x72xbf16>, %wg: tensor<12x72xbf16>, %b: tensor<12xf32>, %wn: tensor<12x72xf32>) -> (tensor<?x12xf32>, tensor<?x12xf32>, tensor<?x12xf32>) {
  // CHECK: moe.router %{{.*}}, %{{.*}} : tensor<?x72xbf16>, tensor<12x72xbf16> -> tensor<?x12xf32>
  %0 = moe.router %x, %wg : tensor<?x72xbf16>, tensor<12x72xbf16> -> tensor<?x12xf32>
  // CHECK: moe.router %{{.*}}, %{{.*}} bias %{{.*}} : tensor<?x72xbf16>, tensor<12x72xbf16>, tensor<12xf32> -> tensor<?x12xf32>
  %1 = moe.router %x, %wg bias %b : tensor<?x72xbf16>, tensor<12x72xbf16>, tensor<12xf32> -> tensor<?x12xf32>
  // Noisy top-k gating's noise weight:
  // CHECK: moe.router %{{.*}}, %{{.*}} bias %{{.*}} noise(%{{.*}} : tensor<12x72xf32>) : tensor<?x72xbf16>, tensor<12x72xbf16>, tensor<12xf32> -> tensor<?x12xf32>
  %2 = moe.router %x, %wg bias %b noise(%wn : tensor<12x72xf32>) : tensor<?x72xbf16>, tensor<12x72xbf16>, tensor<12xf32> -> tensor<?x12xf32>
  return %0, %1, %2 : tensor<?x12xf32>, tensor<?x12xf32>, tensor<?x12xf32>
}

// Defaults are elided: `<k = 8>` is softmax scoring, no renormalization.
// CHECK-LABEL: func @topk
func.func @topk(%l: tensor<?x64xf32>, %cb: tensor<64xf32>, %s: tensor<5x8xf32>) {
  // CHECK: moe.topk %{{.*}} <k = 8> : tensor<?x64xf32> -> tensor<?x8xf32>, tensor<?x8xi32>
  %w0, %i0 = moe.topk %l <k = 8, scoring = softmax, renormalize = false> : tensor<?x64xf32> -> tensor<?x8xf32>, tensor<?x8xi32>
  // DeepSeek-V3: sigmoid, correction bias, 8 groups keep 4, top-2-sum group score.
  // CHECK: moe.topk %{{.*}} bias %{{.*}} <k = 8, scoring = sigmoid, renormalize = true, epsilon = 1.0e-20, scaling_factor = 2.5, n_group = 8, topk_group = 4> : tensor<?x64xf32>, tensor<64xf32> -> tensor<?x8xf32>, tensor<?x8xi32>
  %w1, %i1 = moe.topk %l bias %cb <k = 8, scoring = sigmoid, renormalize = true, epsilon = 1.0e-20, scaling_factor = 2.5, n_group = 8, topk_group = 4> : tensor<?x64xf32>, tensor<64xf32> -> tensor<?x8xf32>, tensor<?x8xi32>
  // DeepSeek-V2: softmax, group score is the group's max.
  // CHECK: moe.topk %{{.*}} <k = 6, scaling_factor = 16.0, n_group = 8, topk_group = 3, group_score = max> : tensor<?x64xf32> -> tensor<?x6xf32>, tensor<?x6xi32>
  %w2, %i2 = moe.topk %l <k = 6, scaling_factor = 16.0, n_group = 8, topk_group = 3, group_score = max> : tensor<?x64xf32> -> tensor<?x6xf32>, tensor<?x6xi32>
  // CHECK: moe.topk %{{.*}} <k = 2, scoring = none, softmax_after_topk = true> : tensor<5x8xf32> -> tensor<5x2xf32>, tensor<5x2xi32>
  %w3, %i3 = moe.topk %s <k = 2, scoring = none, softmax_after_topk = true> : tensor<5x8xf32> -> tensor<5x2xf32>, tensor<5x2xi32>
  return
}

// CHECK-LABEL: func @mixture
func.func @mixture(%l: tensor<?x8xf32>) -> (tensor<?x8xf32>, tensor<?x8xi32>) {
  // CHECK: moe.mixture sigmoid %{{.*}} {scaling_factor = 2.000000e+00 : f64} : tensor<?x8xf32> -> tensor<?x8xf32>, tensor<?x8xi32>
  %w, %i = moe.mixture sigmoid %l {scaling_factor = 2.0 : f64} : tensor<?x8xf32> -> tensor<?x8xf32>, tensor<?x8xi32>
  return %w, %i : tensor<?x8xf32>, tensor<?x8xi32>
}

// C = min(T, ceil(2.0 * 16 / 8)) = 4, R = E * C = 32; with a dynamic T, R is dynamic.
// CHECK-LABEL: func @expert_choice
func.func @expert_choice(%l: tensor<16x8xf32>, %d: tensor<?x8xf32>) {
  // CHECK: moe.expert_choice %{{.*}} <capacity_factor = 2.0> : tensor<16x8xf32> -> tensor<32xf32>, tensor<32xi32>, tensor<9xi32>
  %w, %t, %o = moe.expert_choice %l <capacity_factor = 2.0> : tensor<16x8xf32> -> tensor<32xf32>, tensor<32xi32>, tensor<9xi32>
  // CHECK: moe.expert_choice %{{.*}} <scoring = sigmoid> : tensor<?x8xf32> -> tensor<?xf32>, tensor<?xi32>, tensor<9xi32>
  %w1, %t1, %o1 = moe.expert_choice %d <scoring = sigmoid> : tensor<?x8xf32> -> tensor<?xf32>, tensor<?xi32>, tensor<9xi32>
  // Over ranks, this rank's rows: a dynamic count even at a static T.
  // CHECK: moe.expert_choice %{{.*}} <capacity_factor = 2.0> ranks(4) : tensor<16x8xf32> -> tensor<?xf32>, tensor<?xi32>, tensor<9xi32>
  %w2, %t2, %o2 = moe.expert_choice %l <capacity_factor = 2.0> ranks(4) : tensor<16x8xf32> -> tensor<?xf32>, tensor<?xi32>, tensor<9xi32>
  return
}

// R = T*k + E*(block-1) without capacity; E * roundup(C, block) with one.
// CHECK-LABEL: func @dispatch
func.func @dispatch(%i: tensor<?x2xi32>, %s: tensor<7x2xi32>, %p: tensor<7x8xf32>, %one: tensor<10x1xi32>) {
  // CHECK: moe.dispatch %{{.*}} experts(8) : tensor<?x2xi32> -> tensor<8xi32>, tensor<9xi32>, tensor<?xi32>, tensor<?x2xi32>
  %c0, %o0, %r0, %s0 = moe.dispatch %i experts(8) : tensor<?x2xi32> -> tensor<8xi32>, tensor<9xi32>, tensor<?xi32>, tensor<?x2xi32>
  // 7*2 + 8*(16-1) = 134
  // CHECK: moe.dispatch %{{.*}} experts(8) {block = 16 : i64} : tensor<7x2xi32> -> tensor<8xi32>, tensor<9xi32>, tensor<134xi32>, tensor<7x2xi32>
  %c1, %o1, %r1, %s1 = moe.dispatch %s experts(8) {block = 16} : tensor<7x2xi32> -> tensor<8xi32>, tensor<9xi32>, tensor<134xi32>, tensor<7x2xi32>
  // C = ceil(1.25 * 14 / 8) = 3 -> R = 24
  // CHECK: moe.dispatch %{{.*}} experts(8) capacity <factor = 1.25> : tensor<7x2xi32> -> tensor<8xi32>, tensor<9xi32>, tensor<24xi32>, tensor<7x2xi32>
  %c2, %o2, %r2, %s2 = moe.dispatch %s experts(8) capacity <factor = 1.25> : tensor<7x2xi32> -> tensor<8xi32>, tensor<9xi32>, tensor<24xi32>, tensor<7x2xi32>
  // CHECK: moe.dispatch %{{.*}} probs %{{.*}} experts(8) capacity <factor = 1.25, overflow = reroute> : tensor<7x2xi32>, tensor<7x8xf32> -> tensor<8xi32>, tensor<9xi32>, tensor<24xi32>, tensor<7x2xi32>
  %c3, %o3, %r3, %s3 = moe.dispatch %s probs %p experts(8) capacity <factor = 1.25, overflow = reroute> : tensor<7x2xi32>, tensor<7x8xf32> -> tensor<8xi32>, tensor<9xi32>, tensor<24xi32>, tensor<7x2xi32>
  // A fixed capacity (Switch) gives a static R even for a dynamic T: 8 * 3.
  // CHECK: moe.dispatch %{{.*}} experts(8) capacity <tokens = 3> : tensor<10x1xi32> -> tensor<8xi32>, tensor<9xi32>, tensor<24xi32>, tensor<10x1xi32>
  %c4, %o4, %r4, %s4 = moe.dispatch %one experts(8) capacity <tokens = 3> : tensor<10x1xi32> -> tensor<8xi32>, tensor<9xi32>, tensor<24xi32>, tensor<10x1xi32>
  return
}

// CHECK-LABEL: func @movement
func.func @movement(%x: tensor<?x72xf16>, %rt: tensor<?xi32>, %rw: tensor<?xf32>, %t: index, %xs: tensor<4x72xf16>, %rts: tensor<6xi32>) {
  // CHECK: moe.permute %{{.*}}, %{{.*}} : tensor<?x72xf16>, tensor<?xi32> -> tensor<?x72xf16>
  %xp = moe.permute %x, %rt : tensor<?x72xf16>, tensor<?xi32> -> tensor<?x72xf16>
  // CHECK: moe.unpermute %{{.*}}, %{{.*}} weights %{{.*}} tokens(%{{.*}}) : tensor<?x72xf16>, tensor<?xi32>, tensor<?xf32> -> tensor<?x72xf16>
  %y = moe.unpermute %xp, %rt weights %rw tokens(%t) : tensor<?x72xf16>, tensor<?xi32>, tensor<?xf32> -> tensor<?x72xf16>
  // CHECK: moe.permute %{{.*}}, %{{.*}} : tensor<4x72xf16>, tensor<6xi32> -> tensor<6x72xf16>
  %xq = moe.permute %xs, %rts : tensor<4x72xf16>, tensor<6xi32> -> tensor<6x72xf16>
  // CHECK: moe.unpermute %{{.*}}, %{{.*}} : tensor<6x72xf16>, tensor<6xi32> -> tensor<4x72xf16>
  %z = moe.unpermute %xq, %rts : tensor<6x72xf16>, tensor<6xi32> -> tensor<4x72xf16>
  return
}

// CHECK-LABEL: func @experts
func.func @experts(%xp: tensor<?x72xbf16>, %o: tensor<13xi32>, %w1: tensor<12x40x72xbf16>, %w2: tensor<12x72x40xbf16>,
                    %bf: tensor<12x40xf32>, %bh: tensor<12x72xf32>) -> tensor<?x72xbf16> {
  // CHECK: moe.grouped_matmul %{{.*}}, %{{.*}}, %{{.*}} : tensor<?x72xbf16>, tensor<12x40x72xbf16>, tensor<13xi32> -> tensor<?x40xbf16>
  %g = moe.grouped_matmul %xp, %w1, %o : tensor<?x72xbf16>, tensor<12x40x72xbf16>, tensor<13xi32> -> tensor<?x40xbf16>
  // CHECK: moe.glu silu %{{.*}}, %{{.*}} : tensor<?x40xbf16>, tensor<?x40xbf16> -> tensor<?x40xbf16>
  %a = moe.glu silu %g, %g : tensor<?x40xbf16>, tensor<?x40xbf16> -> tensor<?x40xbf16>
  // CHECK: moe.glu gelu %{{.*}} : tensor<?x40xbf16> -> tensor<?x20xbf16>
  %b = moe.glu gelu %g : tensor<?x40xbf16> -> tensor<?x20xbf16>
  // CHECK: moe.glu gelu_tanh
  %c = moe.glu gelu_tanh %g, %g : tensor<?x40xbf16>, tensor<?x40xbf16> -> tensor<?x40xbf16>
  // CHECK: moe.glu relu
  %d = moe.glu relu %g, %g : tensor<?x40xbf16>, tensor<?x40xbf16> -> tensor<?x40xbf16>
  // CHECK: moe.glu clamped_swiglu %{{.*}}, %{{.*}} {alpha = 1.500000e+00 : f64, limit = 5.000000e+00 : f64}
  %e = moe.glu clamped_swiglu %g, %g {alpha = 1.5 : f64, limit = 5.0 : f64} : tensor<?x40xbf16>, tensor<?x40xbf16> -> tensor<?x40xbf16>
  // CHECK: moe.expert_ffn %{{.*}}, %{{.*}} gate %{{.*}} up %{{.*}} down %{{.*}} <activation = silu> : (tensor<?x72xbf16>, tensor<13xi32>, tensor<12x40x72xbf16>, tensor<12x40x72xbf16>, tensor<12x72x40xbf16>) -> tensor<?x72xbf16>
  %y = moe.expert_ffn %xp, %o gate %w1 up %w1 down %w2 <activation = silu> : (tensor<?x72xbf16>, tensor<13xi32>, tensor<12x40x72xbf16>, tensor<12x40x72xbf16>, tensor<12x72x40xbf16>) -> tensor<?x72xbf16>
  // CHECK: moe.expert_ffn %{{.*}}, %{{.*}} up %{{.*}} down %{{.*}} <activation = relu, gated = false> : (tensor<?x72xbf16>, tensor<13xi32>, tensor<12x40x72xbf16>, tensor<12x72x40xbf16>) -> tensor<?x72xbf16>
  %z = moe.expert_ffn %xp, %o up %w1 down %w2 <activation = relu, gated = false> : (tensor<?x72xbf16>, tensor<13xi32>, tensor<12x40x72xbf16>, tensor<12x72x40xbf16>) -> tensor<?x72xbf16>
  // CHECK: moe.expert_ffn %{{.*}}, %{{.*}} gate %{{.*}} up %{{.*}} down %{{.*}} <activation = clamped_swiglu, alpha = 1.5, limit = 5.0>
  %q = moe.expert_ffn %xp, %o gate %w1 up %w1 down %w2 <activation = clamped_swiglu, alpha = 1.5, limit = 5.0> : (tensor<?x72xbf16>, tensor<13xi32>, tensor<12x40x72xbf16>, tensor<12x40x72xbf16>, tensor<12x72x40xbf16>) -> tensor<?x72xbf16>
  // gpt-oss: biases on every projection.
  // CHECK: moe.expert_ffn %{{.*}}, %{{.*}} gate %{{.*}} up %{{.*}} down %{{.*}} biases(up %{{.*}}, down %{{.*}}, gate %{{.*}}) <activation = clamped_swiglu>
  %p = moe.expert_ffn %xp, %o gate %w1 up %w1 down %w2 biases(up %bf, down %bh, gate %bf) <activation = clamped_swiglu> : (tensor<?x72xbf16>, tensor<13xi32>, tensor<12x40x72xbf16>, tensor<12x40x72xbf16>, tensor<12x72x40xbf16>, tensor<12x40xf32>, tensor<12x72xf32>, tensor<12x40xf32>) -> tensor<?x72xbf16>
  return %y : tensor<?x72xbf16>
}

// CHECK-LABEL: func @combine
func.func @combine(%y: tensor<?x72xf32>, %w: tensor<?x2xf32>, %sr: tensor<?x2xi32>, %x: tensor<?x72xf32>) {
  // CHECK: moe.combine %{{.*}}, %{{.*}}, %{{.*}} : (tensor<?x72xf32>, tensor<?x2xf32>, tensor<?x2xi32>) -> tensor<?x72xf32>
  %0 = moe.combine %y, %w, %sr : (tensor<?x72xf32>, tensor<?x2xf32>, tensor<?x2xi32>) -> tensor<?x72xf32>
  // CHECK: moe.combine %{{.*}}, %{{.*}}, %{{.*}} passthrough %{{.*}} : (tensor<?x72xf32>, tensor<?x2xf32>, tensor<?x2xi32>, tensor<?x72xf32>) -> tensor<?x72xf32>
  %1 = moe.combine %y, %w, %sr passthrough %x : (tensor<?x72xf32>, tensor<?x2xf32>, tensor<?x2xi32>, tensor<?x72xf32>) -> tensor<?x72xf32>
  // CHECK: moe.combine %{{.*}}, %{{.*}}, %{{.*}} addend %{{.*}} : (tensor<?x72xf32>, tensor<?x2xf32>, tensor<?x2xi32>, tensor<?x72xf32>) -> tensor<?x72xf32>
  %2 = moe.combine %y, %w, %sr addend %x : (tensor<?x72xf32>, tensor<?x2xf32>, tensor<?x2xi32>, tensor<?x72xf32>) -> tensor<?x72xf32>
  // CHECK: moe.combine %{{.*}}, %{{.*}}, %{{.*}} passthrough %{{.*}} addend %{{.*}} : (tensor<?x72xf32>, tensor<?x2xf32>, tensor<?x2xi32>, tensor<?x72xf32>, tensor<?x72xf32>) -> tensor<?x72xf32>
  %3 = moe.combine %y, %w, %sr passthrough %x addend %x : (tensor<?x72xf32>, tensor<?x2xf32>, tensor<?x2xi32>, tensor<?x72xf32>, tensor<?x72xf32>) -> tensor<?x72xf32>
  return
}

// CHECK-LABEL: func @shared_expert
func.func @shared_expert(%x: tensor<?x72xf32>, %g: tensor<40x72xf32>, %d: tensor<72x40xf32>, %sg: tensor<1x72xf32>) {
  // CHECK: moe.shared_expert %{{.*}} gate %{{.*}} up %{{.*}} down %{{.*}} sigmoid_gate %{{.*}} <activation = silu> : (tensor<?x72xf32>, tensor<40x72xf32>, tensor<40x72xf32>, tensor<72x40xf32>, tensor<1x72xf32>) -> tensor<?x72xf32>
  %0 = moe.shared_expert %x gate %g up %g down %d sigmoid_gate %sg <activation = silu> : (tensor<?x72xf32>, tensor<40x72xf32>, tensor<40x72xf32>, tensor<72x40xf32>, tensor<1x72xf32>) -> tensor<?x72xf32>
  // A dense FFN layer: no sigmoid gate.
  // CHECK: moe.shared_expert %{{.*}} gate %{{.*}} up %{{.*}} down %{{.*}} <activation = silu> : (tensor<?x72xf32>, tensor<40x72xf32>, tensor<40x72xf32>, tensor<72x40xf32>) -> tensor<?x72xf32>
  %1 = moe.shared_expert %x gate %g up %g down %d <activation = silu> : (tensor<?x72xf32>, tensor<40x72xf32>, tensor<40x72xf32>, tensor<72x40xf32>) -> tensor<?x72xf32>
  // CHECK: moe.shared_expert %{{.*}} up %{{.*}} down %{{.*}} <activation = gelu, gated = false>
  %2 = moe.shared_expert %x up %g down %d <activation = gelu, gated = false> : (tensor<?x72xf32>, tensor<40x72xf32>, tensor<72x40xf32>) -> tensor<?x72xf32>
  return
}

// CHECK-LABEL: func @blocks
func.func @blocks(%x: tensor<?x72xf32>, %wg: tensor<12x72xf32>, %cb: tensor<12xf32>,
                  %w1: tensor<12x40x72xf32>, %w2: tensor<12x72x40xf32>,
                  %s1: tensor<80x72xf32>, %s2: tensor<72x80xf32>, %sg: tensor<1x72xf32>,
                  %b40: tensor<12x40xf32>, %b72: tensor<12x72xf32>) {
  // Mixtral.
  // CHECK: moe.block %{{.*}} router %{{.*}} experts(up %{{.*}}, down %{{.*}}, gate %{{.*}}) routing #moe.routing<k = 2, renormalize = true> ffn <activation = silu> : (tensor<?x72xf32>, tensor<12x72xf32>, tensor<12x40x72xf32>, tensor<12x72x40xf32>, tensor<12x40x72xf32>) -> tensor<?x72xf32>
  %0 = moe.block %x router %wg experts(up %w1, down %w2, gate %w1) routing #moe.routing<k = 2, renormalize = true> ffn <activation = silu> : (tensor<?x72xf32>, tensor<12x72xf32>, tensor<12x40x72xf32>, tensor<12x72x40xf32>, tensor<12x40x72xf32>) -> tensor<?x72xf32>
  // Noisy top-k gating (the router's noise weight).
  // CHECK: moe.block %{{.*}} router %{{.*}} noise %{{.*}} experts(up %{{.*}}, down %{{.*}}, gate %{{.*}}) routing #moe.routing<k = 2> ffn <activation = silu> : (tensor<?x72xf32>, tensor<12x72xf32>, tensor<12x72xf32>, tensor<12x40x72xf32>, tensor<12x72x40xf32>, tensor<12x40x72xf32>) -> tensor<?x72xf32>
  %n = moe.block %x router %wg noise %wg experts(up %w1, down %w2, gate %w1) routing #moe.routing<k = 2> ffn <activation = silu> : (tensor<?x72xf32>, tensor<12x72xf32>, tensor<12x72xf32>, tensor<12x40x72xf32>, tensor<12x72x40xf32>, tensor<12x40x72xf32>) -> tensor<?x72xf32>
  // Qwen2-MoE: sigmoid-gated shared expert.
  // CHECK: moe.block %{{.*}} router %{{.*}} experts(up %{{.*}}, down %{{.*}}, gate %{{.*}}) shared(up %{{.*}}, down %{{.*}}, gate %{{.*}}) shared_expert_gate %{{.*}} routing #moe.routing<k = 4> ffn <activation = silu>
  %1 = moe.block %x router %wg experts(up %w1, down %w2, gate %w1) shared(up %s1, down %s2, gate %s1) shared_expert_gate %sg routing #moe.routing<k = 4> ffn <activation = silu> : (tensor<?x72xf32>, tensor<12x72xf32>, tensor<12x40x72xf32>, tensor<12x72x40xf32>, tensor<12x40x72xf32>, tensor<80x72xf32>, tensor<72x80xf32>, tensor<80x72xf32>, tensor<1x72xf32>) -> tensor<?x72xf32>
  // DeepSeek-V3: correction bias, groups, ungated shared expert.
  // CHECK: moe.block %{{.*}} router %{{.*}} correction %{{.*}} experts(up %{{.*}}, down %{{.*}}, gate %{{.*}}) shared(up %{{.*}}, down %{{.*}}, gate %{{.*}}) routing #moe.routing<k = 4, scoring = sigmoid, renormalize = true, epsilon = 1.0e-20, scaling_factor = 2.5, n_group = 4, topk_group = 2> ffn <activation = silu>
  %2 = moe.block %x router %wg correction %cb experts(up %w1, down %w2, gate %w1) shared(up %s1, down %s2, gate %s1) routing #moe.routing<k = 4, scoring = sigmoid, renormalize = true, epsilon = 1.0e-20, scaling_factor = 2.5, n_group = 4, topk_group = 2> ffn <activation = silu> : (tensor<?x72xf32>, tensor<12x72xf32>, tensor<12xf32>, tensor<12x40x72xf32>, tensor<12x72x40xf32>, tensor<12x40x72xf32>, tensor<80x72xf32>, tensor<72x80xf32>, tensor<80x72xf32>) -> tensor<?x72xf32>
  // gpt-oss: router bias, softmax over the top k, biased experts.
  // CHECK: moe.block %{{.*}} router %{{.*}} bias %{{.*}} experts(up %{{.*}}, down %{{.*}}, gate %{{.*}}) biases(up %{{.*}}, down %{{.*}}, gate %{{.*}}) routing #moe.routing<k = 4, scoring = none, softmax_after_topk = true> ffn <activation = clamped_swiglu>
  %g = moe.block %x router %wg bias %cb experts(up %w1, down %w2, gate %w1) biases(up %b40, down %b72, gate %b40) routing #moe.routing<k = 4, scoring = none, softmax_after_topk = true> ffn <activation = clamped_swiglu> : (tensor<?x72xf32>, tensor<12x72xf32>, tensor<12xf32>, tensor<12x40x72xf32>, tensor<12x72x40xf32>, tensor<12x40x72xf32>, tensor<12x40xf32>, tensor<12x72xf32>, tensor<12x40xf32>) -> tensor<?x72xf32>
  // Switch: top-1, ReLU experts, fixed capacity, dropped tokens pass through.
  // CHECK: moe.block %{{.*}} router %{{.*}} experts(up %{{.*}}, down %{{.*}}) routing #moe.routing<k = 1> ffn <activation = relu, gated = false> capacity <tokens = 4> dropped = passthrough
  %3 = moe.block %x router %wg experts(up %w1, down %w2) routing #moe.routing<k = 1> ffn <activation = relu, gated = false> capacity <tokens = 4> dropped = passthrough : (tensor<?x72xf32>, tensor<12x72xf32>, tensor<12x40x72xf32>, tensor<12x72x40xf32>) -> tensor<?x72xf32>
  // Expert choice.
  // CHECK: moe.block %{{.*}} router %{{.*}} experts(up %{{.*}}, down %{{.*}}, gate %{{.*}}) routing #moe.expert_choice<capacity_factor = 2.0> ffn <activation = gelu>
  %4 = moe.block %x router %wg experts(up %w1, down %w2, gate %w1) routing #moe.expert_choice<capacity_factor = 2.0> ffn <activation = gelu> : (tensor<?x72xf32>, tensor<12x72xf32>, tensor<12x40x72xf32>, tensor<12x72x40xf32>, tensor<12x40x72xf32>) -> tensor<?x72xf32>
  // Capacity with rerouting, and a router bias.
  // CHECK: moe.block %{{.*}} router %{{.*}} bias %{{.*}} experts(up %{{.*}}, down %{{.*}}, gate %{{.*}}) routing #moe.routing<k = 2> ffn <activation = silu> capacity <factor = 1.5, overflow = reroute>
  %5 = moe.block %x router %wg bias %cb experts(up %w1, down %w2, gate %w1) routing #moe.routing<k = 2> ffn <activation = silu> capacity <factor = 1.5, overflow = reroute> : (tensor<?x72xf32>, tensor<12x72xf32>, tensor<12xf32>, tensor<12x40x72xf32>, tensor<12x72x40xf32>, tensor<12x40x72xf32>) -> tensor<?x72xf32>
  return
}

// CHECK-LABEL: func @router_stats
func.func @router_stats(%l: tensor<?x8xf32>, %i: tensor<?x2xi32>) {
  // CHECK: moe.router_stats %{{.*}}, %{{.*}} : tensor<?x8xf32>, tensor<?x2xi32> -> tensor<8xi32>, tensor<f32>, tensor<f32>, tensor<f32>
  %c, %cv, %lb, %z = moe.router_stats %l, %i : tensor<?x8xf32>, tensor<?x2xi32> -> tensor<8xi32>, tensor<f32>, tensor<f32>, tensor<f32>
  return
}

// CHECK-LABEL: func @exchange
func.func @exchange(%xp: tensor<?x72xf32>, %off: tensor<13xi32>, %rt: tensor<?xi32>,
                    %w1: tensor<12x40x72xf32>, %w2: tensor<12x72x40xf32>) -> tensor<?x72xf32> {
  // CHECK: moe.exchange %{{.*}}, %{{.*}} ranks(2) slots(6) : tensor<?x72xf32>, tensor<13xi32> -> tensor<?x72xf32>, tensor<7xi32>, tensor<6xi32>, tensor<12xi32>
  %xr, %soff, %smap, %counts = moe.exchange %xp, %off ranks(2) slots(6) : tensor<?x72xf32>, tensor<13xi32> -> tensor<?x72xf32>, tensor<7xi32>, tensor<6xi32>, tensor<12xi32>
  // CHECK: moe.expert_ffn %{{.*}}, %{{.*}} experts %{{.*}} gate %{{.*}} up %{{.*}} down %{{.*}} <activation = silu>
  %yr = moe.expert_ffn %xr, %soff experts %smap gate %w1 up %w1 down %w2 <activation = silu> : (tensor<?x72xf32>, tensor<7xi32>, tensor<6xi32>, tensor<12x40x72xf32>, tensor<12x40x72xf32>, tensor<12x72x40xf32>) -> tensor<?x72xf32>
  // CHECK: moe.exchange_back %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}} ranks(2) slots(6) : tensor<?x72xf32>, tensor<13xi32>, tensor<7xi32>, tensor<12xi32>, tensor<?xi32> -> tensor<?x72xf32>
  %y = moe.exchange_back %yr, %off, %soff, %counts, %rt ranks(2) slots(6) : tensor<?x72xf32>, tensor<13xi32>, tensor<7xi32>, tensor<12xi32>, tensor<?xi32> -> tensor<?x72xf32>
  return %y : tensor<?x72xf32>
}
