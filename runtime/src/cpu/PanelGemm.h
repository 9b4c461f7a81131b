//===- PanelGemm.h - f32 / bf16 GEMMs against weights in panels --*- C++ -*-===//
//
// The CPU's f32 and bf16 GEMMs when the compiler packed B (a weight) in panels of 32
// rows (WeightLayout::Panels32, moert/format.h): per step of k, one panel
// gives 32 consecutive floats of B, and a register tile of MR rows of C x 32
// columns takes MR broadcasts of A and 2 x MR FMAs (AVX-512), with no
// reduction across lanes. B streams once per block of rows (sequentially, one
// stream per panel), so the same kernel serves decode (a few rows, at memory
// speed) and prefill (many rows, at FMA speed).
//
//===----------------------------------------------------------------------===//
#ifndef MOERT_SRC_CPU_PANELGEMM_H
#define MOERT_SRC_CPU_PANELGEMM_H

#include <cstdint>

namespace moert::rt {

/// The instruction sets panelGemm has kernels for.
enum class PanelIsa { Generic, Avx2, Avx512 };

/// The best of them this CPU has (AVX-512F; else AVX2 + FMA; else Generic).
PanelIsa bestPanelIsa();

/// C[m, n] (+)= Σ_k A[m, k] · B[n, k] for m < M, n < N: A [M, K] row-major,
/// `panels` the first of the ceil(N / 32) panels of B that hold columns
/// [0, N) of C (the caller offsets it to a panel boundary), C with row stride
/// ldc. f32 sums in k order per element (each panel row is one FMA chain).
/// `isa` must be one this CPU has (bestPanelIsa() or below).
void panelGemm(int64_t M, int64_t N, int64_t K, const float *A,
               const float *panels, float *C, int64_t ldc, bool accumulate,
               PanelIsa isa);

/// The kernels of panelGemmBf16: AVX512_BF16's vdpbf16ps (when
/// hasBf16Dot()), or B widened exactly to f32 in registers (AVX-512F, AVX2 +
/// FMA, portable).
enum class Bf16PanelIsa { Generic, Avx2, Avx512, Avx512Bf16 };

/// The best of them this CPU has.
Bf16PanelIsa bestBf16PanelIsa();

/// panelGemm with A bf16 [M, K] and B in bf16 panels (depth 2: pairs of k,
/// moert/format.h): C (+)= the f32 sums of the exact products.
void panelGemmBf16(int64_t M, int64_t N, int64_t K, const uint16_t *A,
                   const uint16_t *panels, float *C, int64_t ldc,
                   bool accumulate, Bf16PanelIsa isa);

} // namespace moert::rt

#endif // MOERT_SRC_CPU_PANELGEMM_H
