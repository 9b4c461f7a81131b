// moe-codegen-host: the kernels module becomes one host shared object (an
// x86-64 ELF, embedded as a resource) listing each kernel's buffer count.
// RUN: moe-opt %s --moe-lower-to-exec=max-tokens=32 --moe-codegen-host | FileCheck %s
// RUN: not moe-opt %s --moe-lower-to-exec=max-tokens=32 --moe-codegen-host=cpu=pentium9 2>&1 | FileCheck %s --check-prefix=CPU
// math.exp (the SiLU's, the softmax's) is arithmetic in the object: the
// shared object imports no expf (its dynamic string table names it otherwise).
// RUN: moe-opt %s --moe-lower-to-exec=max-tokens=32 --moe-codegen-host -o %t.mlir
// RUN: %python -c "import re, sys; h = re.search(r'host_kernels: \"0x([0-9A-F]+)\"', open(sys.argv[1]).read()).group(1); b = bytes.fromhex(h); print('elf', b.find(b'\x7fELF') >= 0, 'expf', b.find(b'\x00expf\x00') >= 0, 'logf', b.find(b'\x00logf\x00') >= 0)" %t.mlir | FileCheck %s --check-prefix=IMPORTS
// IMPORTS: elf True expf False logf True
// A CPU without FMA (x86-64) keeps libm's expf: the expansion's fused
// multiply-adds would each be a call to fmaf there.
// RUN: moe-opt %s --moe-lower-to-exec=max-tokens=32 --moe-codegen-host=cpu=x86-64 -o %t.v1.mlir
// RUN: %python -c "import re, sys; h = re.search(r'host_kernels: \"0x([0-9A-F]+)\"', open(sys.argv[1]).read()).group(1); b = bytes.fromhex(h); print('elf', b.find(b'\x7fELF') >= 0, 'expf', b.find(b'\x00expf\x00') >= 0, 'fmaf', b.find(b'\x00fmaf\x00') >= 0)" %t.v1.mlir | FileCheck %s --check-prefix=V1
// V1: elf True expf True fmaf False

// CHECK-NOT: module @kernels
// CHECK: exec.launch @route_0(
// CHECK: exec.code_object "host-so" "x86-64-v3+sse4.2+popcnt+avx+avx2+fma+bmi+bmi2" {combine_0 = 4 : i64, dispatch_chunked_count_0 = 2 : i64, dispatch_chunked_offsets_0 = 2 : i64, dispatch_chunked_place_0 = 5 : i64, dispatch_chunked_scan_0 = 2 : i64, glu_0 = 2 : i64, permute_0 = 3 : i64, route_0 = 3 : i64, router_stats_final_0 = 2 : i64, router_stats_partial_0 = 3 : i64}
// Each kernel's bounds: the largest extent (route_0 runs over T <= 32 tokens,
// dispatch_chunked_offsets_0 once), the arguments it writes (combine_0: y,
// argument 3; route_0: the weights and indices, 1 and 2) and the bytes of
// each argument at max_tokens (combine_0: 32 tokens x 8 x f32 = 1024 for y).
// CHECK-SAME: bounds {combine_0 = array<i64: 32, 8, 2048, 256, 256, 1024>,
// CHECK-SAME: dispatch_chunked_offsets_0 = array<i64: 1, 2, 16, 20>,
// CHECK-SAME: route_0 = array<i64: 32, 6, 512, 256, 256>,
// CHECK-SAME: = dense_resource<host_kernels> : tensor<{{[0-9]+}}xi8>
// The blob: an alignment word, then the ELF magic.
// CHECK: host_kernels: "0x{{[0-9A-F]+}}7F454C46
// CPU: error: moe-codegen-host: unknown CPU 'pentium9' (use an LLVM CPU name such as x86-64-v3, or native)
func.func @f(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  %wg = moe.weight "gate" = dense<0.5> : tensor<4x8xf32> : tensor<4x8xf32>
  %w1 = moe.weight "w1" = dense<0.25> : tensor<4x6x8xf32> : tensor<4x6x8xf32>
  %w2 = moe.weight "w2" = dense<0.125> : tensor<4x8x6xf32> : tensor<4x8x6xf32>
  %l = moe.router %x, %wg : tensor<?x8xf32>, tensor<4x8xf32> -> tensor<?x4xf32>
  %w, %i = moe.topk %l <k = 2, renormalize = true> : tensor<?x4xf32> -> tensor<?x2xf32>, tensor<?x2xi32>
  %c, %o, %r, %s = moe.dispatch %i experts(4) : tensor<?x2xi32> -> tensor<4xi32>, tensor<5xi32>, tensor<?xi32>, tensor<?x2xi32>
  %xp = moe.permute %x, %r : tensor<?x8xf32>, tensor<?xi32> -> tensor<?x8xf32>
  %y = moe.expert_ffn %xp, %o gate %w1 up %w1 down %w2 <activation = silu> : (tensor<?x8xf32>, tensor<5xi32>, tensor<4x6x8xf32>, tensor<4x6x8xf32>, tensor<4x8x6xf32>) -> tensor<?x8xf32>
  %out = moe.combine %y, %w, %s : (tensor<?x8xf32>, tensor<?x2xf32>, tensor<?x2xi32>) -> tensor<?x8xf32>
  return %out : tensor<?x8xf32>
}
