//===- ExpertOffsets.h - the check of a grouped GEMM's row offsets --*- C++ -*-===//
//
// A grouped GEMM's experts take the rows [offsets[e], offsets[e + 1]) that
// the dispatch kernel computed on the device: data, not a value the loader
// could check. Every backend that reads them on the host checks them here
// before using them, so bad offsets are an error, never an access outside C.
//
//===----------------------------------------------------------------------===//
#ifndef MOERT_SRC_EXPERTOFFSETS_H
#define MOERT_SRC_EXPERTOFFSETS_H

#include "Status.h"

#include <cstdint>
#include <cstring>

namespace moert::rt {

/// offsets[i] of i32 offsets at any alignment.
inline int32_t loadOffset(const uint8_t *offsets, int64_t i) {
  int32_t v;
  std::memcpy(&v, offsets + 4 * i, 4);
  return v;
}

/// The checks of a grouped GEMM's i32 offsets [experts + 1]: offsets[0] = 0,
/// non-decreasing, offsets[experts] <= rows (MOERT_EXECUTION_ERROR otherwise).
Status checkExpertOffsets(const uint8_t *offsets, int64_t experts, int64_t rows);

} // namespace moert::rt

#endif // MOERT_SRC_EXPERTOFFSETS_H
