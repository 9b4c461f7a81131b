//===- SmallGemm.h - GEMMs with few rows, at memory speed ---------*- C++ -*-===//
//
// Decode-time MoE GEMMs have a handful of rows per expert (T = 1: one row) and
// a weight of megabytes: their cost is streaming B once from memory. BLAS
// libraries pack B for reuse across rows, which at M <= 8 costs more than the
// product itself. These kernels read each row of B exactly once, straight
// from the weight, and keep the (few) rows of A in cache.
//
//===----------------------------------------------------------------------===//
#ifndef MOERT_SRC_CPU_SMALLGEMM_H
#define MOERT_SRC_CPU_SMALLGEMM_H

#include <cstdint>

namespace moert::rt {

/// The most rows the runtime gives smallGemm; larger products go to BLAS.
constexpr int64_t kSmallGemmMaxRows = 32;

/// The same for smallGemm16: above it, 16-bit panels are widened to f32 for
/// BLAS, which costs more, so the crossover is higher (moe-bench, bf16
/// weights, 2 threads, rows 32 -> 64: olmoe T = 256 320 -> 242 ms, mixtral-s
/// T = 64..1024 within 5%; 128 and 512 were no better or worse).
constexpr int64_t kSmallGemm16MaxRows = 64;

/// Whether this CPU has a small-GEMM kernel (AVX-512F/BW/VL, or AVX2 + FMA +
/// F16C).
bool smallGemmAvailable();

/// C[m, n] (+)= Σ_k A[m, k] · B[n, k] for m < M and n < N (groups of 8 rows
/// of A, each against chunks of B that stay in L2); A is [M, K] with row stride K, B is [N, K] row-major, C has row
/// stride ldc. Sums run in f32 over 16 (AVX-512) or 8 (AVX2) lanes of k and
/// are then reduced across lanes. Requires smallGemmAvailable().
void smallGemm(int64_t M, int64_t N, int64_t K, const float *A, const float *B,
               float *C, int64_t ldc, bool accumulate);

/// smallGemm with A and B in bf16 (`bf16`) or f16: the same f32 sums of the
/// exactly widened values. A is widened into a scratch buffer of the calling
/// thread (grown on its first use, then reused); B is widened as it streams.
void smallGemm16(bool bf16, int64_t M, int64_t N, int64_t K, const uint16_t *A,
                 const uint16_t *B, float *C, int64_t ldc, bool accumulate);

/// Whether smallGemm16 computes bf16 products with AVX512_BF16's vdpbf16ps
/// (detected at run time; MOERT_NO_AVX512_BF16=1 in the environment turns it
/// off, e.g. to compare).
bool hasBf16Dot();

/// `rows` x K 16-bit values (bf16 when `bf16`, else f16) widened to f32 in
/// scratch buffer `slot` (0 or 1; smallGemm16 uses 0) of the calling thread,
/// valid until that slot's next use.
const float *widenRows(bool bf16, int64_t rows, int64_t K, const uint16_t *A,
                       int slot = 0);

} // namespace moert::rt

#endif // MOERT_SRC_CPU_SMALLGEMM_H
