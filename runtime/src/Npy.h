//===- Npy.h - NumPy .npy reader and writer ---------------------------------===//
//
// Used by moe-run and the tests; not part of the installed library. The
// reader takes bytes + size (so it can be fuzzed) and accepts little-endian,
// C-order '<f4', '<f2' and '<i4' arrays of .npy format versions 1-3; anything
// else (another dtype, Fortran order, a malformed or truncated header, missing
// or trailing data) is an error with a message, never a crash.
//
//===----------------------------------------------------------------------===//
#ifndef MOERT_SRC_NPY_H
#define MOERT_SRC_NPY_H

#include "moert/half.h"
#include "moert/moert.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace moert::npy {

struct Array {
  moert_dtype_t dtype = MOERT_F32; // MOERT_F32, MOERT_F16 or MOERT_I32
  std::vector<int64_t> shape;
  std::vector<uint8_t> data; // little-endian elements, C order

  size_t elements() const;
};

/// Parses the bytes of a .npy file. On failure returns false and sets *error
/// (one line, no trailing newline); *out is then unspecified.
bool parse(const uint8_t *data, size_t size, Array *out, std::string *error);

/// Reads and parses a file; errors name the file.
bool readFile(const std::string &path, Array *out, std::string *error);
/// readFile of a layer's input x, which must be f32 [T, H] (the test tools').
bool readTokens(const std::string &path, Array *out, std::string *error);

/// A .npy version 1.0 file holding float32 `values` of `shape` (C order).
std::vector<uint8_t> serializeF32(const float *values, const std::vector<int64_t> &shape);
/// The same for any supported dtype from raw little-endian bytes; bf16
/// (which NumPy lacks) is written as float32, widened exactly.
std::vector<uint8_t> serialize(moert_dtype_t dtype, const void *data,
                               const std::vector<int64_t> &shape);

/// A float32 array rounded to nearest even to `dtype`, MOERT_BF16 or
/// MOERT_F16 (an input of 16-bit activations given as float32); any other
/// array or dtype: the array as it is.
Array roundedTo16(const Array &f32, moert_dtype_t dtype);

bool writeFile(const std::string &path, const std::vector<uint8_t> &bytes,
               std::string *error);

using moert::bf16ToFloat;
using moert::floatToBf16; // round to nearest even
using moert::floatToHalf; // round to nearest even
using moert::halfToFloat;

} // namespace moert::npy

#endif // MOERT_SRC_NPY_H
