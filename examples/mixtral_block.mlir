// A Mixtral-style sparse MoE block (E = 8 experts, top-2, SwiGLU experts) at
// toy sizes (H = 72, F = 40), written twice: as one composite moe.block, and as
// the primitives it stands for. Canonicalization keeps the primitive form's
// softmax -> top-2 -> renormalize as it is: top-2 on the logits would agree in
// real arithmetic but not at f32 near-ties, where the lower expert wins.

func.func @mixtral_block(%x: tensor<?x72xf32>) -> tensor<?x72xf32> {
  %wg = moe.weight "model.layers.0.block_sparse_moe.gate.weight" from "model.safetensors" : tensor<8x72xf32>
  %w1 = moe.weight "model.layers.0.block_sparse_moe.experts.{e}.w1.weight" from "model.safetensors" : tensor<8x40x72xf32>
  %w2 = moe.weight "model.layers.0.block_sparse_moe.experts.{e}.w2.weight" from "model.safetensors" : tensor<8x72x40xf32>
  %w3 = moe.weight "model.layers.0.block_sparse_moe.experts.{e}.w3.weight" from "model.safetensors" : tensor<8x40x72xf32>
  %y = moe.block %x router %wg experts(up %w3, down %w2, gate %w1)
         routing #moe.routing<k = 2, renormalize = true> ffn <activation = silu>
         : (tensor<?x72xf32>, tensor<8x72xf32>, tensor<8x40x72xf32>, tensor<8x72x40xf32>, tensor<8x40x72xf32>) -> tensor<?x72xf32>
  return %y : tensor<?x72xf32>
}

func.func @mixtral_block_primitives(%x: tensor<?x72xf32>) -> tensor<?x72xf32> {
  %wg = moe.weight "model.layers.0.block_sparse_moe.gate.weight" from "model.safetensors" : tensor<8x72xf32>
  %w1 = moe.weight "model.layers.0.block_sparse_moe.experts.{e}.w1.weight" from "model.safetensors" : tensor<8x40x72xf32>
  %w2 = moe.weight "model.layers.0.block_sparse_moe.experts.{e}.w2.weight" from "model.safetensors" : tensor<8x72x40xf32>
  %w3 = moe.weight "model.layers.0.block_sparse_moe.experts.{e}.w3.weight" from "model.safetensors" : tensor<8x40x72xf32>
  %logits = moe.router %x, %wg : tensor<?x72xf32>, tensor<8x72xf32> -> tensor<?x8xf32>
  %w, %idx = moe.topk %logits <k = 2, renormalize = true> : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  %counts, %offsets, %row_token, %slot_row = moe.dispatch %idx experts(8)
      : tensor<?x2xi32> -> tensor<8xi32>, tensor<9xi32>, tensor<?xi32>, tensor<?x2xi32>
  %xp = moe.permute %x, %row_token : tensor<?x72xf32>, tensor<?xi32> -> tensor<?x72xf32>
  %g = moe.grouped_matmul %xp, %w1, %offsets : tensor<?x72xf32>, tensor<8x40x72xf32>, tensor<9xi32> -> tensor<?x40xf32>
  %u = moe.grouped_matmul %xp, %w3, %offsets : tensor<?x72xf32>, tensor<8x40x72xf32>, tensor<9xi32> -> tensor<?x40xf32>
  %h = moe.glu silu %g, %u : tensor<?x40xf32>, tensor<?x40xf32> -> tensor<?x40xf32>
  %ye = moe.grouped_matmul %h, %w2, %offsets : tensor<?x40xf32>, tensor<8x72x40xf32>, tensor<9xi32> -> tensor<?x72xf32>
  %y = moe.combine %ye, %w, %slot_row : (tensor<?x72xf32>, tensor<?x2xf32>, tensor<?x2xi32>) -> tensor<?x72xf32>
  return %y : tensor<?x72xf32>
}
