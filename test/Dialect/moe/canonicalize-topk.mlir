// Canonicalization of moe.topk: the dense mixture (k == E without
// renormalization). softmax -> top-k -> renormalize stays as it is: top-k on
// the logits would break the tie rule where probabilities tie in f32.
// RUN: moe-opt %s -canonicalize -split-input-file | FileCheck %s

// k == E, no renormalization, consumed by dispatch and combine: a mixture
// with the same scoring and scale; the correction bias (selection only) and
// the groups (which cannot drop an expert when k == E) disappear.
// CHECK-LABEL: func @all_experts_is_a_mixture
// CHECK-NOT: moe.topk
// CHECK: %[[W:.*]], %[[I:.*]] = moe.mixture sigmoid %arg0 {scaling_factor = 2.500000e+00 : f64} : tensor<?x8xf32> -> tensor<?x8xf32>, tensor<?x8xi32>
// CHECK: moe.dispatch %[[I]] experts(8)
// CHECK: moe.combine %{{.*}}, %[[W]],
func.func @all_experts_is_a_mixture(%l: tensor<?x8xf32>, %cb: tensor<8xf32>, %y: tensor<?x4xf32>) -> tensor<?x4xf32> {
  %w, %i = moe.topk %l bias %cb <k = 8, scoring = sigmoid, scaling_factor = 2.5, n_group = 2, topk_group = 2> : tensor<?x8xf32>, tensor<8xf32> -> tensor<?x8xf32>, tensor<?x8xi32>
  %c, %o, %r, %s = moe.dispatch %i experts(8) : tensor<?x8xi32> -> tensor<8xi32>, tensor<9xi32>, tensor<?xi32>, tensor<?x8xi32>
  %out = moe.combine %y, %w, %s : (tensor<?x4xf32>, tensor<?x8xf32>, tensor<?x8xi32>) -> tensor<?x4xf32>
  return %out : tensor<?x4xf32>
}

// -----

// With renormalization the k == E weights are not the scores: untouched.
// CHECK-LABEL: func @all_experts_renormalized_stays
// CHECK: moe.topk %arg0 <k = 4, scoring = sigmoid, renormalize = true>
// CHECK-NOT: moe.mixture
func.func @all_experts_renormalized_stays(%l: tensor<?x4xf32>) -> (tensor<?x4xf32>, tensor<?x4xi32>) {
  %w, %i = moe.topk %l <k = 4, scoring = sigmoid, renormalize = true> : tensor<?x4xf32> -> tensor<?x4xf32>, tensor<?x4xi32>
  %c, %cv, %lb, %z = moe.router_stats %l, %i : tensor<?x4xf32>, tensor<?x4xi32> -> tensor<4xi32>, tensor<f32>, tensor<f32>, tensor<f32>
  return %w, %i : tensor<?x4xf32>, tensor<?x4xi32>
}

// -----

// The slots of a top-k are in score order, those of a mixture in expert order:
// a function result exposes that order, so the rewrite would change it.
// CHECK-LABEL: func @all_experts_order_visible_stays
// CHECK: moe.topk %arg0 <k = 4>
// CHECK-NOT: moe.mixture
func.func @all_experts_order_visible_stays(%l: tensor<?x4xf32>) -> tensor<?x4xi32> {
  %w, %i = moe.topk %l <k = 4> : tensor<?x4xf32> -> tensor<?x4xf32>, tensor<?x4xi32>
  return %i : tensor<?x4xi32>
}

// -----

// A capacity admits copies in slot order, so it sees the order too.
// CHECK-LABEL: func @all_experts_capacity_stays
// CHECK: moe.topk %arg0 <k = 4>
// CHECK-NOT: moe.mixture
func.func @all_experts_capacity_stays(%l: tensor<6x4xf32>) -> tensor<16xi32> {
  %w, %i = moe.topk %l <k = 4> : tensor<6x4xf32> -> tensor<6x4xf32>, tensor<6x4xi32>
  %c, %o, %r, %s = moe.dispatch %i experts(4) capacity <factor = 0.5> : tensor<6x4xi32> -> tensor<4xi32>, tensor<5xi32>, tensor<12xi32>, tensor<6x4xi32>
  %c2, %cv, %lb, %z = moe.router_stats %l, %i : tensor<6x4xf32>, tensor<6x4xi32> -> tensor<4xi32>, tensor<f32>, tensor<f32>, tensor<f32>
  %cat = tensor.concat dim(0) %r, %c : (tensor<12xi32>, tensor<4xi32>) -> tensor<16xi32>
  return %cat : tensor<16xi32>
}

// -----

// k < E: not a mixture.
// CHECK-LABEL: func @fewer_than_all_stays
// CHECK: moe.topk %arg0 <k = 3>
func.func @fewer_than_all_stays(%l: tensor<?x4xf32>) -> tensor<?x3xf32> {
  %w, %i = moe.topk %l <k = 3> : tensor<?x4xf32> -> tensor<?x3xf32>, tensor<?x3xi32>
  return %w : tensor<?x3xf32>
}

// -----

// Mixtral's softmax -> top-2 -> renormalize is not rewritten into top-k on
// the logits: where two probabilities tie in f32 but their logits differ,
// the tie rule (lower expert index) and the larger logit disagree.
// CHECK-LABEL: func @softmax_renormalize_stays
// CHECK: moe.topk %arg0 <k = 2, renormalize = true, scaling_factor = 2.0> : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
// CHECK-NOT: softmax_after_topk
func.func @softmax_renormalize_stays(%l: tensor<?x8xf32>) -> (tensor<?x2xf32>, tensor<?x2xi32>) {
  %w, %i = moe.topk %l <k = 2, renormalize = true, scaling_factor = 2.0> : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  return %w, %i : tensor<?x2xf32>, tensor<?x2xi32>
}

// -----

// Without renormalization the weights are the full-softmax probabilities,
// which do not sum to 1 over the winners: not rewritten.
// CHECK-LABEL: func @softmax_without_renormalize_stays
// CHECK: moe.topk %arg0 <k = 2> :
func.func @softmax_without_renormalize_stays(%l: tensor<?x8xf32>) -> tensor<?x2xf32> {
  %w, %i = moe.topk %l <k = 2> : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  return %w : tensor<?x2xf32>
}

// -----

// A nonzero epsilon makes the renormalized weights sum to less than 1.
// CHECK-LABEL: func @softmax_epsilon_stays
// CHECK: moe.topk %arg0 <k = 2, renormalize = true, epsilon = 1.0e-06> :
func.func @softmax_epsilon_stays(%l: tensor<?x8xf32>) -> tensor<?x2xf32> {
  %w, %i = moe.topk %l <k = 2, renormalize = true, epsilon = 1.0e-6> : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  return %w : tensor<?x2xf32>
}

// -----

// Group scores sum probabilities, not logits, so selection could differ.
// CHECK-LABEL: func @softmax_groups_stay
// CHECK: moe.topk %arg0 <k = 2, renormalize = true, n_group = 4, topk_group = 2> :
func.func @softmax_groups_stay(%l: tensor<?x8xf32>) -> tensor<?x2xf32> {
  %w, %i = moe.topk %l <k = 2, renormalize = true, n_group = 4, topk_group = 2> : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  return %w : tensor<?x2xf32>
}

// -----

// A correction bias is added to probabilities; on logits it would select
// differently.
// CHECK-LABEL: func @softmax_bias_stays
// CHECK: moe.topk %arg0 bias %arg1 <k = 2, renormalize = true> :
func.func @softmax_bias_stays(%l: tensor<?x8xf32>, %b: tensor<8xf32>) -> tensor<?x2xf32> {
  %w, %i = moe.topk %l bias %b <k = 2, renormalize = true> : tensor<?x8xf32>, tensor<8xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  return %w : tensor<?x2xf32>
}

// -----

// Sigmoid scores are not a softmax: untouched.
// CHECK-LABEL: func @sigmoid_stays
// CHECK: moe.topk %arg0 <k = 2, scoring = sigmoid, renormalize = true> :
func.func @sigmoid_stays(%l: tensor<?x8xf32>) -> tensor<?x2xf32> {
  %w, %i = moe.topk %l <k = 2, scoring = sigmoid, renormalize = true> : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  return %w : tensor<?x2xf32>
}
