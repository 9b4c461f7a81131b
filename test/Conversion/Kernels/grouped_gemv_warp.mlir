// The generic grouped GEMV of the CUDA target
// (lib/Conversion/Kernels/grouped_gemv_warp.mlir), a warp per (expert, n):
// specialized for f32 and for bf16 operands, where A and B hold bf16 and each
// of their loads is widened to f32 before the fused multiply-adds; C stays
// f32, and the offsets are clamped to [0, MR].
// RUN: moe-opt %moec_src/lib/Conversion/Kernels/grouped_gemv_warp.mlir | FileCheck %s --check-prefix=PARSE
// PARSE: func.func @grouped_gemv_warp({{.*}}exec.element_type = "DT"
// RUN: moe-opt %moec_src/lib/Conversion/Kernels/grouped_gemv_warp.mlir --exec-specialize-kernel="kernel=grouped_gemv_warp name=g bind=E=4,N=6,K=8,MR=128,DT=f32,CT=f32" | FileCheck %s --check-prefix=F32
// RUN: moe-opt %moec_src/lib/Conversion/Kernels/grouped_gemv_warp.mlir --exec-specialize-kernel="kernel=grouped_gemv_warp name=g bind=E=8,N=40,K=72,MR=32,DT=bf16,CT=bf16" | FileCheck %s --check-prefix=BF16
// RUN: not moe-opt %moec_src/lib/Conversion/Kernels/grouped_gemv_warp.mlir --exec-specialize-kernel="kernel=grouped_gemv_warp name=g bind=E=4,N=6,K=8,MR=128,CT=f32" 2>&1 | FileCheck %s --check-prefix=NODT

// F32: func.func @g(%{{.*}}: memref<128x8xf32>, %{{.*}}: memref<4x6x8xf32>, %{{.*}}: memref<5xi32>, %{{.*}}: memref<128x6xf32>, {{.*}} attributes {exec.lanes = 32 : i64}
// F32-DAG: arith.constant 128 : i32
// F32: gpu.lane_id
// F32: arith.maxsi
// F32: arith.minsi
// F32-NOT: arith.extf
// F32: math.fma
// F32: gpu.shuffle xor

// BF16: func.func @g(%[[A:.*]]: memref<32x72xbf16>, %[[B:.*]]: memref<8x40x72xbf16>, %{{.*}}: memref<9xi32>, %[[C:.*]]: memref<32x40xbf16>,
// BF16: %[[BW:.*]] = memref.load %[[B]]
// BF16: %[[BI:.*]] = arith.bitcast %[[BW]] : bf16 to i16
// BF16: %[[BX:.*]] = arith.extui %[[BI]] : i16 to i32
// BF16: %[[BS:.*]] = arith.shli %[[BX]]
// BF16: %[[BV:.*]] = arith.bitcast %[[BS]] : i32 to f32
// BF16: %[[AW:.*]] = memref.load %[[A]]
// BF16: %[[AI:.*]] = arith.bitcast %[[AW]] : bf16 to i16
// BF16: %[[AX:.*]] = arith.extui %[[AI]] : i16 to i32
// BF16: %[[AS:.*]] = arith.shli %[[AX]]
// BF16: %[[AV:.*]] = arith.bitcast %[[AS]] : i32 to f32
// BF16: math.fma %[[AV]], %[[BV]]
// BF16: arith.bitcast %{{.*}} : f32 to i32
// BF16: memref.store %{{.*}}, %[[C]]

// NODT: error: kernel @grouped_gemv_warp needs parameter 'DT', an element type (f32, bf16 or f16)
