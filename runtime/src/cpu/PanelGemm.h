//===- PanelGemm.h - f32 / bf16 / fp8 / MXFP4 / int GEMMs on panels ===//
//
// The CPU's f32, bf16, fp8, MXFP4, int8 and int4 GEMMs when the compiler packed B (a
// weight) in panels of 32 rows (WeightLayout::Panels32, moert/format.h): per
// step of k, one panel gives 32 consecutive values of B, and a register tile
// of MR rows of C x 32 columns takes MR broadcasts of A and 2 x MR FMAs
// (AVX-512), with no reduction across lanes. B streams once per block of
// rows (sequentially, one stream per panel), so the same kernel serves decode
// (a few rows, at memory speed) and prefill (many rows, at FMA speed).
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
/// hasBf16Dot()), or B widened exactly to f32 in registers (AVX-512F with
/// BW, else AVX2 + FMA + F16C, portable).
enum class Bf16PanelIsa { Generic, Avx2, Avx512, Avx512Bf16 };

/// The best of them this CPU has.
Bf16PanelIsa bestBf16PanelIsa();

/// panelGemm with A bf16 [M, K] and B in bf16 panels (depth 2: pairs of k,
/// moert/format.h): C (+)= the f32 sums of the exact products.
void panelGemmBf16(int64_t M, int64_t N, int64_t K, const uint16_t *A,
                   const uint16_t *panels, float *C, int64_t ldc,
                   bool accumulate, Bf16PanelIsa isa);

/// panelGemm with A f16 [M, K] and B in f16 panels (depth 1, as f32's):
/// C (+)= the f32 sums of the exact products, each element one FMA chain in
/// k order on the widened values (bit-identical across ISAs but the
/// portable one, and to that loop). The f32 tiles widen B as they load it
/// (F16C's vcvtph2ps); A is widened once per block of rows and k slice.
/// `isa` as for panelGemm (AVX2 without F16C runs the portable kernels).
void panelGemmF16(int64_t M, int64_t N, int64_t K, const uint16_t *A,
                  const uint16_t *panels, float *C, int64_t ldc, bool accumulate,
                  PanelIsa isa);

/// C[m, n] (+)= Σ_k A[m, k] · w(n0 + n, k) for m < M, n < N, where the weight
/// matrix [Ntotal, K] is fp8 e4m3 in panels (depth 1) with block scales:
/// w(c, k) = fp8ToFloat(code(c, k))
///           · scales[(c / 128) · fp8Blocks(K) + k / 128].
/// `panels` points at the panel holding column n0 (a multiple of 32); `scales`
/// at the matrix's first scale; A is [M, K] row-major, C has row stride ldc.
/// Each element of C is one f32 FMA chain in k order, on C's value when
/// `accumulate`, else on 0: acc = fma(a', w8, acc) with a' = f32(A[m, k] ·
/// scale) and w8 = fp8ToFloat(code), so results are bit-identical across
/// ISAs and to that loop. The codes are dequantized on the fly (never a
/// dequantized copy of the weight); the NaN codes 0x7F and 0xFF, which
/// quantizeFp8Matrix never writes, give unspecified results, as does
/// |a'| >= 2^120. `isa` as for panelGemm (AVX-512 without AVX512BW runs the
/// AVX2 kernels, AVX2 without F16C the portable ones).
void panelGemmFp8(int64_t M, int64_t N, int64_t K, const float *A,
                  const uint8_t *panels, const float *scales, int64_t n0,
                  float *C, int64_t ldc, bool accumulate, PanelIsa isa);

/// C[m, n] (+)= Σ_k A[m, k] · w(n, k) for m < M, n < N, where the weight is
/// in MXFP4 panels (moert/mxfp4.h): w(n, k) = e2m1(code) · 2^(e - 127), exact
/// in f32 (mxfp4PanelValue). `panels` points at the first panel of the
/// call's columns (the caller offsets it by whole panels); K is a multiple of
/// 32; A is [M, K] row-major, C has row stride ldc. Each element of C is one
/// f32 FMA chain in k order, on C's value when `accumulate`, else on 0: acc
/// = fma(A[m, k], w(n, k), acc), so results are bit-identical across ISAs,
/// to that loop and to panelGemm's AVX2 and AVX-512 kernels on the
/// dequantized weight. The codes are dequantized on the fly; the NaN scale
/// 255 gives unspecified results. `isa` as for panelGemm.
void panelGemmMxfp4(int64_t M, int64_t N, int64_t K, const float *A,
                    const uint8_t *panels, float *C, int64_t ldc, bool accumulate,
                    PanelIsa isa);

/// C[m, n] (+)= Σ_k A[m, k] · w(n, k) for m < M, n < N, where the weight is
/// in integer panels (moert/intq.h) of `bits` 8 (w = q · d) or 4 (w = (q -
/// z) · d) with `group` values of k per scale: exact in f32
/// (intPanelValue). `panels` points at the first panel of the call's columns
/// (the caller offsets it by whole panels); K is a multiple of `group`; A is
/// [M, K] row-major, C has row stride ldc. Each element of C is one f32 FMA
/// chain in k order, on C's value when `accumulate`, else on 0, so results
/// are bit-identical across ISAs, to that loop and to panelGemm's AVX2 and
/// AVX-512 kernels on the dequantized weight. The codes are dequantized in
/// registers. `isa` as for panelGemm (AVX2 without F16C runs the portable
/// kernels).
///
/// With `int8Activations`, each row of A is quantized per group to int8 and
/// each group's products are summed exactly in integers (moert/intq.h:
/// C = fma(f32(Σ (q - z) · a), f32(d · s), C) group after group), with
/// AVX512_VNNI's vpdpbusd, AVX2's vpmaddubsw (also on AVX-512 CPUs without
/// VNNI) or portable C++: bit-identical across them and to that loop.
void panelGemmInt(int bits, int64_t group, int64_t M, int64_t N, int64_t K, const float *A,
                  const uint8_t *panels, float *C, int64_t ldc, bool accumulate,
                  PanelIsa isa, bool int8Activations = false);

} // namespace moert::rt

#endif // MOERT_SRC_CPU_PANELGEMM_H
