// The router_noise kernel (lib/Conversion/Kernels/router_noise.mlir): it
// parses as it stands and specializes with the router's sizes and stream;
// the noise is added only when params[0] != 0, at rows offset by params[3],
// with the splitmix64 mixing
// constants and f64 math (log, cos, sqrt, exp, log1p: libm on the CPU).
// Its values are checked against the reference end to end
// (test/e2e/generic_noisy_gating.test).
// RUN: moe-opt %moec_src/lib/Conversion/Kernels/router_noise.mlir | FileCheck %s --check-prefix=PARSE
// PARSE: func.func private @noise_mix(
// PARSE: func.func private @noise_uniform(
// PARSE: func.func @router_noise(
// RUN: moe-opt %moec_src/lib/Conversion/Kernels/router_noise.mlir --exec-specialize-kernel="kernel=router_noise name=n bind=MT=64,H=8,E=4,SALT=770" | FileCheck %s

// CHECK: func.func @n(%[[X:.*]]: memref<64x8xf32>, %[[WN:.*]]: memref<4x8xf32>, %[[P:.*]]: memref<4xi32>, %[[L:.*]]: memref<64x4xf32>, %{{.*}}: index, %{{.*}}: index, %{{.*}}: index)
// CHECK-DAG: arith.constant 770 : i64
// CHECK-DAG: arith.constant -7046029254386353131 : i64
// CHECK: %[[ON:.*]] = memref.load %[[P]][%{{.*}}] : memref<4xi32>
// CHECK: %[[EN:.*]] = arith.cmpi ne, %[[ON]], %{{.*}} : i32
// CHECK: scf.if %[[EN]] {
// The run's first row among all the tokens (params[3]) offsets the token's.
// CHECK: memref.load %[[P]][%{{.*}}] : memref<4xi32>
// CHECK: memref.load %[[P]][%{{.*}}] : memref<4xi32>
// CHECK: %[[B32:.*]] = memref.load %[[P]][%{{.*}}] : memref<4xi32>
// CHECK: %[[B:.*]] = arith.index_castui %[[B32]] : i32 to index
// CHECK: arith.shli %{{.*}}, %{{.*}} : i64
// CHECK: scf.for %[[T:[^ ]*]] =
// CHECK: memref.load %[[X]]
// CHECK: memref.load %[[WN]]
// CHECK: math.log1p %{{.*}} : f64
// CHECK: arith.addi %[[T]], %[[B]] : index
// CHECK: math.log %{{.*}} : f64
// CHECK: math.sqrt %{{.*}} : f64
// CHECK: math.cos %{{.*}} : f64
// CHECK: arith.truncf %{{.*}} : f64 to f32
// CHECK: memref.store %{{.*}}, %[[L]]
