//===- Intrinsics.h - x86 intrinsics for the CPU kernels ----------*- C++ -*-===//
//
// <immintrin.h> for the kernels of this directory, each compiled for its ISA
// with __attribute__((target(...))). GCC 12's AVX-512 intrinsics start from
// _mm512_undefined_*(), which its flow analysis reports as uninitialized
// where they are inlined (in the including file's functions), so those
// warnings are off for the including file (clang has no such warning).
//
//===----------------------------------------------------------------------===//
#ifndef MOERT_SRC_CPU_INTRINSICS_H
#define MOERT_SRC_CPU_INTRINSICS_H

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#endif // MOERT_SRC_CPU_INTRINSICS_H
