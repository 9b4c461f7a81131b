func.func @router(%x: tensor<?x72xbf16>, %wg: tensor<12x72xbf16>, %b: tensor<12xf32>) -> (tensor<?x12xf32>, tensor<?x12xf32>) {
  %0 = moe.router %x, %wg : tensor<?x72xbf16>, tensor<12x72xbf16> -> tensor<?x12xf32>
  %1 = moe.router %x, %wg bias %b : tensor<?x72xbf16>, tensor<12x72xbf16>, tensor<12xf32> -> tensor<?x12xf32>
  return %0, %1 : tensor<?x12xf32>, tensor<?x12xf32>
}
