//===- CpuCommands.h - the CPU implementations of the artifact's commands -===//
//
// Each function runs one command of docs/artifact.md ("Commands") on
// pointers the session has already resolved and sizes the loader has already
// checked; they may use the session's thread pool and allocate nothing.
//
//===----------------------------------------------------------------------===//
#ifndef MOERT_SRC_CPU_CPUCOMMANDS_H
#define MOERT_SRC_CPU_CPUCOMMANDS_H

#include "../CodeObject.h"
#include "../Status.h"
#include "../ThreadPool.h"

#include <cstdint>

namespace moert::rt {

/// Makes OpenBLAS single-threaded, once per process: GEMMs are split over the
/// session's own threads instead (see docs/runtime.md, "Threads").
void initBlasThreading();

/// kernel(args, T, begin, end) for the chunks of [0, extent) of size grain.
void runLaunch(ThreadPool &pool, KernelFn kernel, void *const *args,
               int64_t tokens, int64_t extent, int64_t grain);

/// A GEMM's B operand: its bytes, whether they are in panels (format.h), and
/// for an f8e4m3 weight (always in panels) its f32 block scales (fp8.h).
struct GemmB {
  const void *data = nullptr;
  bool panels = false;
  const float *scales = nullptr;
  int64_t group = 0; // an int8 / int4 weight's values per scale (moert/intq.h)
  bool int8Activations = false; // its GEMM quantizes A per group
};

/// C[m, :] (+)= A[m, :] · Bᵀ for m < M; A [M, K], B [N, K] of `dtype` (f32,
/// bf16 or f16; row-major or in panels), or A f32 and B f8e4m3, mxfp4, int8
/// or int4 in panels, C [M, N] of `cType`; the sums run in f32. A bf16 / f16
/// C (not accumulated) is written as runGroupedGemm writes one.
void runGemm(ThreadPool &pool, moert_dtype_t dtype, int64_t M, int64_t N,
             int64_t K, const void *A, GemmB B, void *C, bool accumulate,
             moert_dtype_t cType = MOERT_F32);

/// The grouped GEMM over `experts` groups of rows given by the i32 offsets at
/// `offsets` (experts + 1 of them), validated here: an error status (and C
/// untouched) when checkExpertOffsets (ExpertOffsets.h) fails. With `map`
/// (i32 [experts], a rank's slots), group g multiplies by B's matrix map[g]
/// of `mapExperts`: an error when a group with rows names none of them. C
/// holds `cType`: f32, or bf16 / f16 (each sum rounded to nearest even, a
/// block of rows at a time through a thread's f32 scratch of at most
/// kCScratchFloats, 4 MiB).
Status runGroupedGemm(ThreadPool &pool, moert_dtype_t dtype, int64_t rows,
                      int64_t experts, int64_t N, int64_t K, const void *A,
                      GemmB B, void *C, const uint8_t *offsets,
                      const uint8_t *map = nullptr, int64_t mapExperts = 0,
                      moert_dtype_t cType = MOERT_F32);
constexpr int64_t kCScratchFloats = int64_t(1) << 20, kCScratchCols = 8192;

/// `bytes` bytes of dst <- the little-endian 32-bit `value`, repeated.
void runFill(uint8_t *dst, int64_t bytes, uint32_t value);

void runCopy(uint8_t *dst, const uint8_t *src, int64_t bytes);

} // namespace moert::rt

#endif // MOERT_SRC_CPU_CPUCOMMANDS_H
