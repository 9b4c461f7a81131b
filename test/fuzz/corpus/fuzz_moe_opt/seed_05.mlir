func.func @dispatch(%i: tensor<?x2xi32>, %s: tensor<7x2xi32>, %p: tensor<7x8xf32>, %one: tensor<10x1xi32>) {
  %c0, %o0, %r0, %s0 = moe.dispatch %i experts(8) : tensor<?x2xi32> -> tensor<8xi32>, tensor<9xi32>, tensor<?xi32>, tensor<?x2xi32>
  %c1, %o1, %r1, %s1 = moe.dispatch %s experts(8) {block = 16} : tensor<7x2xi32> -> tensor<8xi32>, tensor<9xi32>, tensor<134xi32>, tensor<7x2xi32>
  %c2, %o2, %r2, %s2 = moe.dispatch %s experts(8) capacity <factor = 1.25> : tensor<7x2xi32> -> tensor<8xi32>, tensor<9xi32>, tensor<24xi32>, tensor<7x2xi32>
  %c3, %o3, %r3, %s3 = moe.dispatch %s probs %p experts(8) capacity <factor = 1.25, overflow = reroute> : tensor<7x2xi32>, tensor<7x8xf32> -> tensor<8xi32>, tensor<9xi32>, tensor<24xi32>, tensor<7x2xi32>
  %c4, %o4, %r4, %s4 = moe.dispatch %one experts(8) capacity <tokens = 3> : tensor<10x1xi32> -> tensor<8xi32>, tensor<9xi32>, tensor<24xi32>, tensor<10x1xi32>
  return
}
