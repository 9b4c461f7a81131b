func.func @combine(%y: tensor<?x72xf32>, %w: tensor<?x2xf32>, %sr: tensor<?x2xi32>, %x: tensor<?x72xf32>) {
  %0 = moe.combine %y, %w, %sr : (tensor<?x72xf32>, tensor<?x2xf32>, tensor<?x2xi32>) -> tensor<?x72xf32>
  %1 = moe.combine %y, %w, %sr passthrough %x : (tensor<?x72xf32>, tensor<?x2xf32>, tensor<?x2xi32>, tensor<?x72xf32>) -> tensor<?x72xf32>
  %2 = moe.combine %y, %w, %sr addend %x : (tensor<?x72xf32>, tensor<?x2xf32>, tensor<?x2xi32>, tensor<?x72xf32>) -> tensor<?x72xf32>
  %3 = moe.combine %y, %w, %sr passthrough %x addend %x : (tensor<?x72xf32>, tensor<?x2xf32>, tensor<?x2xi32>, tensor<?x72xf32>, tensor<?x72xf32>) -> tensor<?x72xf32>
  return
}
