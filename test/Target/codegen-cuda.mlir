// moe-codegen-cuda: the kernels module becomes one PTX code object for the
// chosen GPU, listing each kernel's buffer count and its lanes per item: 32
// for the warp-per-token routing (top-k over 40 experts, two per lane), 1 for
// group-limited routing. The math functions are
// polynomials, so the PTX calls nothing (no libdevice).
// RUN: moe-opt %s --moe-lower-to-exec="max-tokens=32 target=cuda" --moe-codegen-cuda="chip=sm_80 binary=ptx" | FileCheck %s
// RUN: moe-compile %s --target=cuda:sm_80 --max-tokens 32 --emit=ptx | FileCheck %s --check-prefix=PTX
// RUN: not moe-opt %s --moe-lower-to-exec="max-tokens=32 target=cuda" --moe-codegen-cuda="chip=sm_7" 2>&1 | FileCheck %s --check-prefix=CHIP
// RUN: not moe-opt %s --moe-lower-to-exec="max-tokens=32 target=cuda" --moe-codegen-cuda="binary=elf" 2>&1 | FileCheck %s --check-prefix=BINARY
// RUN: not moe-opt %s --moe-lower-to-exec="target=tpu" 2>&1 | FileCheck %s --check-prefix=TARGET
//
// exec.spread loops are split across an item's lanes (32 to 1024, about one
// per 8 iterations): H = 256 gives permute and combine 32 lanes, F = 1000 the
// GLU 128. Thread g runs row g / lanes from column g mod lanes, stepping by
// lanes (a row of 1000 floats is 4000 bytes; 128 lanes step 512 bytes).
// RUN: moe-bench --shape custom --hidden 256 --ffn 1000 --experts 4 --topk 2 --print-graph > %t.mlir
// RUN: moe-compile %t.mlir --target=cuda:sm_80 --max-tokens 64 --compile-to=codegen | FileCheck %s --check-prefix=LANES
// RUN: moe-compile %t.mlir --target=cuda:sm_80 --max-tokens 64 --emit=ptx | FileCheck %s --check-prefix=SPREAD
// The grouped GEMMs' generated engine (--cuda-gemv-max-tokens): one warp per
// (expert, column) with 32 lanes; the offsets are read on the device and
// clamped to [0, rows at max-tokens = 128]; bf16 loads are widened (a shift
// on sm_80), summed
// with fma, four rows at a time, and reduced by butterfly shuffles.
// RUN: moe-compile %t.mlir --target=cuda:sm_80 --max-tokens 64 --weight-type bf16 --cuda-gemv-max-tokens 4 --compile-to=codegen | FileCheck %s --check-prefix=GEMV-IR
// RUN: moe-compile %t.mlir --target=cuda:sm_80 --max-tokens 64 --weight-type bf16 --cuda-gemv-max-tokens 4 --emit=ptx | FileCheck %s --check-prefix=GEMV
// RUN: not moe-opt %S/Inputs/codegen-cuda-spread.mlir --split-input-file --moe-codegen-cuda="chip=sm_80 binary=ptx" 2>/dev/null | FileCheck %s --check-prefix=KERNELS
// RUN: not moe-opt %S/Inputs/codegen-cuda-spread.mlir --split-input-file --moe-codegen-cuda="chip=sm_80 binary=ptx" 2>&1 >/dev/null | FileCheck %s --check-prefix=SPREAD-ERR

// CHECK: module attributes {exec.target = "cuda", exec.target_arch = "sm_80"}
// CHECK-NOT: module @kernels
// CHECK: exec.launch @route_warp_0(
// CHECK: exec.launch @route_0(
// CHECK: exec.code_object "ptx" "sm_80" {{{.*}}route_0 = 3 : i64, route_warp_0 = 3 : i64{{.*}}} lanes {{{.*}}route_0 = 1 : i64, route_warp_0 = 32 : i64{{.*}} = dense_resource<cuda_kernels>

// PTX: .version
// PTX: .target sm_80
// PTX: .address_size 64
// PTX-NOT: .extern
// PTX-NOT: __nv_
// PTX: .visible .entry route_warp_0(
// PTX-NEXT: .param .u64 .ptr .align 1 route_warp_0_param_0,
// PTX-NEXT: .param .u64 .ptr .align 1 route_warp_0_param_1,
// PTX-NEXT: .param .u64 .ptr .align 1 route_warp_0_param_2,
// The fault word (exec-guard-kernel-indices), the run word (T, loaded),
// then the extent's per_token and fixed:
// PTX-NEXT: .param .u64 .ptr .align 1 route_warp_0_param_3,
// PTX-NEXT: .param .u64 .ptr .align 1 route_warp_0_param_4,
// PTX-NEXT: .param .u64 route_warp_0_param_5,
// PTX-NEXT: .param .u64 route_warp_0_param_6
// PTX: ld.param.b64 [[RWP:%rd[0-9]+]], [route_warp_0_param_4];
// PTX: cvta.to.global.u64 [[RWG:%rd[0-9]+]], [[RWP]];
// PTX: ld.global.{{[bs]}}32 {{%rd?[0-9]+}}, [[[RWG]]];
// PTX: shfl.sync.bfly.b32
// PTX: .visible .entry route_0(
// PTX-NOT: call

// LANES: lanes {combine_0 = 32 : i64, dispatch_chunked_count_0 = 1 : i64, dispatch_chunked_offsets_0 = 1 : i64, dispatch_chunked_place_0 = 1 : i64, dispatch_chunked_scan_0 = 1 : i64, glu_0 = 128 : i64, permute_0 = 32 : i64, route_warp_0 = 32 : i64, router_stats_final_0 = 1 : i64, router_stats_partial_0 = 1 : i64}

// SPREAD: .visible .entry glu_0(
// SPREAD: shr.u64 [[ROW:%rd[0-9]+]], [[G:%rd[0-9]+]], 7;
// SPREAD: and.b64 {{%rd[0-9]+}}, [[G]], 127;
// SPREAD: mad.lo.s64 {{%rd[0-9]+}}, [[ROW]], 4000,
// SPREAD: ld.global.b32
// SPREAD: st.global.b32
// SPREAD: add.s64 {{%rd[0-9]+}}, {{%rd[0-9]+}}, 512;
// SPREAD: ret;

// KERNELS: exec.code_object "ptx" "sm_80" {scale = 1 : i64} lanes {scale = 128 : i64}
// SPREAD-ERR: codegen-cuda-spread.mlir:34:9: error: moe-codegen-cuda: kernel stray writes memory outside its exec.spread loops, which every lane of an item runs
// SPREAD-ERR: codegen-cuda-spread.mlir:49:5: error: moe-codegen-cuda: kernel both has both exec.lanes and exec.spread loops

// CHIP: error: moe-codegen-cuda: unknown GPU architecture 'sm_7' (expected sm_NN with NN >= 75 that this LLVM's NVPTX backend knows, e.g. sm_80, sm_90 or sm_90a)
// BINARY: for the --binary option: Cannot find option named 'elf'!
// TARGET: for the --target option: Cannot find option named 'tpu'!
func.func @f(%x: tensor<?x16xf32>) -> (tensor<?x8xf32>, tensor<?x2xf32>) {
  %wg = moe.weight "gate" = dense<0.5> : tensor<40x16xf32> : tensor<40x16xf32>
  %l = moe.router %x, %wg : tensor<?x16xf32>, tensor<40x16xf32> -> tensor<?x40xf32>
  %w, %i = moe.topk %l <k = 8> : tensor<?x40xf32> -> tensor<?x8xf32>, tensor<?x8xi32>
  %wg2 = moe.weight "gate2" = dense<0.25> : tensor<8x16xf32> : tensor<8x16xf32>
  %l2 = moe.router %x, %wg2 : tensor<?x16xf32>, tensor<8x16xf32> -> tensor<?x8xf32>
  %w2, %i2 = moe.topk %l2 <k = 2, scoring = sigmoid, n_group = 4, topk_group = 2> : tensor<?x8xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  return %w, %w2 : tensor<?x8xf32>, tensor<?x2xf32>
}

// GEMV-IR: exec.grouped_gemm {{.*}} experts(4) n(1000) k(256) {gemv = @[[UP:grouped_gemv_warp_[0-9]+]], gemv_max_tokens = 4 : i64}
// GEMV-IR: exec.grouped_gemm {{.*}} experts(4) n(256) k(1000) {gemv = @[[DOWN:grouped_gemv_warp_[0-9]+]], gemv_max_tokens = 4 : i64}
// GEMV-IR: exec.code_object "{{ptx|cubin}}" "sm_80" {{.*}}[[UP]] = 4 : i64{{.*}} lanes {{.*}}[[UP]] = 32 : i64
// GEMV: .entry grouped_gemv_warp_0(
// GEMV: ld.global.b32 [[O0:%r[0-9]+]], [[[OFF:%rd[0-9]+]]];
// GEMV-NEXT: ld.global.b32 [[O1:%r[0-9]+]], [[[OFF]]+4];
// GEMV-NEXT: max.s32 [[H0:%r[0-9]+]], [[O1]], 0;
// GEMV-NEXT: min.s32 {{%r[0-9]+}}, [[H0]], 128;
// GEMV: mov.u32 {{.*}}%laneid;
// GEMV: ld.global.b16 [[BW:%r[0-9]+]],
// GEMV-NEXT: shl.b32 {{%r[0-9]+}}, [[BW]], 16;
// GEMV: fma.rn.f32
// GEMV: shfl.sync.bfly.b32 {{%r[0-9]+}}, {{%r[0-9]+}}, 16, 31, -1;
// GEMV: shfl.sync.bfly.b32 {{%r[0-9]+}}, {{%r[0-9]+}}, 1, 31, -1;
// GEMV: st.global.b32
// GEMV: .entry
