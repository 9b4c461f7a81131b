// moe-plan-dispatch: pads each expert's rows to the GEMM's row tile and
// retypes the row count through permute and the expert computation.
// RUN: moe-opt %s --moe-plan-dispatch=block-size=16 -split-input-file -verify-diagnostics | FileCheck %s
// RUN: moe-opt %s --moe-plan-dispatch -split-input-file | FileCheck %s --check-prefix=ONE
// RUN: not moe-opt %s --moe-plan-dispatch=block-size=0 -split-input-file 2>&1 | FileCheck %s --check-prefix=BAD

// Static T = 7, k = 2, E = 4: R = 14 + 4 * 15 = 74.
// CHECK-LABEL: func @static_tokens
// CHECK: moe.dispatch %arg0 experts(4) {block = 16 : i64} : tensor<7x2xi32> -> tensor<4xi32>, tensor<5xi32>, tensor<74xi32>, tensor<7x2xi32>
// CHECK: moe.permute %arg1, %{{.*}} : tensor<7x8xf32>, tensor<74xi32> -> tensor<74x8xf32>
// CHECK: moe.grouped_matmul %{{.*}}, %arg2, %{{.*}} : tensor<74x8xf32>, tensor<4x6x8xf32>, tensor<5xi32> -> tensor<74x6xf32>
// CHECK: moe.glu silu %{{.*}}, %{{.*}} : tensor<74x6xf32>, tensor<74x6xf32> -> tensor<74x6xf32>
// CHECK: moe.expert_ffn %{{.*}} -> tensor<74x8xf32>
// CHECK: moe.combine %{{.*}} : (tensor<74x8xf32>, tensor<7x2xf32>, tensor<7x2xi32>) -> tensor<7x8xf32>
// ONE-LABEL: func @static_tokens
// ONE: moe.dispatch %arg0 experts(4) : tensor<7x2xi32> -> tensor<4xi32>, tensor<5xi32>, tensor<14xi32>, tensor<7x2xi32>
func.func @static_tokens(%i: tensor<7x2xi32>, %x: tensor<7x8xf32>, %w: tensor<4x6x8xf32>, %w2: tensor<4x8x6xf32>, %wt: tensor<7x2xf32>) -> tensor<7x8xf32> {
  %c, %o, %r, %s = moe.dispatch %i experts(4) : tensor<7x2xi32> -> tensor<4xi32>, tensor<5xi32>, tensor<14xi32>, tensor<7x2xi32>
  %xp = moe.permute %x, %r : tensor<7x8xf32>, tensor<14xi32> -> tensor<14x8xf32>
  %g = moe.grouped_matmul %xp, %w, %o : tensor<14x8xf32>, tensor<4x6x8xf32>, tensor<5xi32> -> tensor<14x6xf32>
  %h = moe.glu silu %g, %g : tensor<14x6xf32>, tensor<14x6xf32> -> tensor<14x6xf32>
  %y = moe.expert_ffn %xp, %o gate %w up %w down %w2 <activation = silu> : (tensor<14x8xf32>, tensor<5xi32>, tensor<4x6x8xf32>, tensor<4x6x8xf32>, tensor<4x8x6xf32>) -> tensor<14x8xf32>
  %out = moe.combine %y, %wt, %s : (tensor<14x8xf32>, tensor<7x2xf32>, tensor<7x2xi32>) -> tensor<7x8xf32>
  return %out : tensor<7x8xf32>
}

// -----

// A capacity: R = E * roundup(C, 16) = 4 * 16 for C = ceil(1.0 * 7 * 2 / 4) = 4;
// the permuted rows and the unpermute follow. A dynamic T stays dynamic.
// CHECK-LABEL: func @capacity_and_dynamic
// CHECK: moe.dispatch %arg0 experts(4) capacity <> {block = 16 : i64} : tensor<7x2xi32> -> tensor<4xi32>, tensor<5xi32>, tensor<64xi32>, tensor<7x2xi32>
// CHECK: moe.permute %arg2, %{{.*}} : tensor<7x8xf32>, tensor<64xi32> -> tensor<64x8xf32>
// CHECK: moe.unpermute %{{.*}}, %{{.*}} : tensor<64x8xf32>, tensor<64xi32> -> tensor<7x8xf32>
// CHECK: moe.dispatch %arg1 experts(4) {block = 16 : i64} : tensor<?x2xi32> -> tensor<4xi32>, tensor<5xi32>, tensor<?xi32>, tensor<?x2xi32>
func.func @capacity_and_dynamic(%i: tensor<7x2xi32>, %j: tensor<?x2xi32>, %x: tensor<7x8xf32>) -> (tensor<7x8xf32>, tensor<?xi32>) {
  %c, %o, %r, %s = moe.dispatch %i experts(4) capacity <factor = 1.0> : tensor<7x2xi32> -> tensor<4xi32>, tensor<5xi32>, tensor<16xi32>, tensor<7x2xi32>
  %xp = moe.permute %x, %r : tensor<7x8xf32>, tensor<16xi32> -> tensor<16x8xf32>
  %y = moe.unpermute %xp, %r : tensor<16x8xf32>, tensor<16xi32> -> tensor<7x8xf32>
  %c1, %o1, %r1, %s1 = moe.dispatch %j experts(4) : tensor<?x2xi32> -> tensor<4xi32>, tensor<5xi32>, tensor<?xi32>, tensor<?x2xi32>
  return %y, %r1 : tensor<7x8xf32>, tensor<?xi32>
}

// -----

// Rows that leave the expert computation (here: returned) cannot be re-padded.
// ONE-LABEL: func @escaping_rows
func.func @escaping_rows(%i: tensor<7x2xi32>) -> tensor<14xi32> {
  // expected-error@+1 {{moe-plan-dispatch: cannot pad the rows of this dispatch to 16: they are used by 'func.return', which is not an expert computation}}
  %c, %o, %r, %s = moe.dispatch %i experts(4) : tensor<7x2xi32> -> tensor<4xi32>, tensor<5xi32>, tensor<14xi32>, tensor<7x2xi32>
  return %r : tensor<14xi32>
}

// BAD: error: moe-plan-dispatch: block-size must be at least 1, got 0
