//===- ExpertOffsets.cpp --------------------------------------------------===//
#include "ExpertOffsets.h"

namespace moert::rt {

Status checkExpertOffsets(const uint8_t *offsets, int64_t experts, int64_t rows) {
  int32_t first = loadOffset(offsets, 0);
  if (first != 0)
    return error(MOERT_EXECUTION_ERROR, "invalid expert offsets: offsets[0] = ",
                 first, ", expected 0");
  for (int64_t e = 0; e < experts; ++e) {
    int32_t lo = loadOffset(offsets, e), hi = loadOffset(offsets, e + 1);
    if (hi < lo)
      return error(MOERT_EXECUTION_ERROR, "invalid expert offsets: offsets[",
                   e + 1, "] = ", hi, " < offsets[", e, "] = ", lo,
                   " (they must be non-decreasing)");
  }
  int64_t used = loadOffset(offsets, experts);
  if (used > rows)
    return error(MOERT_EXECUTION_ERROR, "invalid expert offsets: offsets[",
                 experts, "] = ", used, " exceeds rows(T) = ", rows);
  return Status();
}

} // namespace moert::rt
