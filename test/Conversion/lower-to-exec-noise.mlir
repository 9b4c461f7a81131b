// A noisy router (noisy top-k gating): after the router's GEMM (and bias), a
// launch of the router_noise kernel over the tokens reads x, the noise
// weight, the function's exec.run_params (the runtime writes it before each
// run; the memory plan keeps it for the whole run) and adds to the logits.
// Each router draws from its own stream: FNV-1a of the function's name
// times 256 plus its index (docs/compiler.md, "Noisy top-k gating"). The
// CUDA target compiles the router without its noise.
// RUN: moe-opt %s --moe-lower-to-exec=max-tokens=64 | FileCheck %s
// RUN: moe-opt %s --moe-lower-to-exec=max-tokens=64 --exec-plan-memory | FileCheck %s --check-prefix=PLAN
// RUN: moe-opt %s --moe-lower-to-exec="max-tokens=64 target=cuda" | FileCheck %s --check-prefix=CUDA

// CHECK-LABEL: func.func @layer_0(
// CHECK-DAG: %[[P:.*]] = exec.run_params offset(0) : <4xi32>
// CHECK-DAG: %[[X:.*]] = exec.input "x"
// CHECK: exec.gemm %[[X]], %{{.*}} -> %[[L:.*]] rows([1, 0]) n(4) k(8)
// CHECK: exec.launch @elementwise_bias_0(%[[L]], %{{.*}})
// CHECK: exec.launch @router_noise_0(%[[X]], %[[WN:.*]], %[[P]], %[[L]]) extent([1, 0]) grain(16)
// CHECK: exec.launch @router_noise_1(%[[X]], %[[WN]], %[[P]], %{{.*}}) extent([1, 0]) grain(16)
// CHECK-NOT: exec.run_params
// CHECK: func.func @router_noise_0(%{{.*}}: memref<64x8xf32>, %{{.*}}: memref<4x8xf32>, %{{.*}}: memref<4xi32>, %{{.*}}: memref<64x4xf32>,
// The stream of @layer_0's first router: FNV-1a("layer_0") * 256.
// CHECK: arith.constant 160312254720 : i64
// CHECK: func.func @router_noise_1(
// CHECK: arith.constant 160312254721 : i64

// Live from the start, as the input: after it, never shared.
// PLAN: exec.input "x" offset(0) bytes([32, 0])
// PLAN-NEXT: exec.run_params offset(2048) : <4xi32>
// PLAN-NOT: offset(2048)
// PLAN: return

// CUDA-NOT: run_params
// CUDA-NOT: router_noise
func.func @layer_0(%x: tensor<?x8xf32>) -> (tensor<?x4xf32>, tensor<?x4xf32>) {
  %wg = moe.weight "gate" from "m.safetensors" : tensor<4x8xf32>
  %wn = moe.weight "noise" from "m.safetensors" : tensor<4x8xf32>
  %b = moe.weight "bias" from "m.safetensors" : tensor<4xf32>
  %l = moe.router %x, %wg bias %b noise(%wn : tensor<4x8xf32>) : tensor<?x8xf32>, tensor<4x8xf32>, tensor<4xf32> -> tensor<?x4xf32>
  %l2 = moe.router %x, %wg noise(%wn : tensor<4x8xf32>) : tensor<?x8xf32>, tensor<4x8xf32> -> tensor<?x4xf32>
  return %l, %l2 : tensor<?x4xf32>, tensor<?x4xf32>
}
