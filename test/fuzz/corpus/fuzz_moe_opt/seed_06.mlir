func.func @movement(%x: tensor<?x72xf16>, %rt: tensor<?xi32>, %rw: tensor<?xf32>, %t: index, %xs: tensor<4x72xf16>, %rts: tensor<6xi32>) {
  %xp = moe.permute %x, %rt : tensor<?x72xf16>, tensor<?xi32> -> tensor<?x72xf16>
  %y = moe.unpermute %xp, %rt weights %rw tokens(%t) : tensor<?x72xf16>, tensor<?xi32>, tensor<?xf32> -> tensor<?x72xf16>
  %xq = moe.permute %xs, %rts : tensor<4x72xf16>, tensor<6xi32> -> tensor<6x72xf16>
  %z = moe.unpermute %xq, %rts : tensor<6x72xf16>, tensor<6xi32> -> tensor<4x72xf16>
  return
}
