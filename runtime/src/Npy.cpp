//===- Npy.cpp --------------------------------------------------------------===//
#include "Npy.h"

#include "InputFile.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>

namespace moert::npy {

namespace {

constexpr size_t kMaxRank = 32; // NumPy's own limit
const char kMagic[6] = {'\x93', 'N', 'U', 'M', 'P', 'Y'};

/// A parser for the header's Python dict literal:
///   {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
class HeaderParser {
public:
  HeaderParser(const char *p, size_t n) : p_(p), end_(p + n) {}

  bool parse(std::string *descr, bool *fortran, std::vector<int64_t> *shape,
             std::string *error) {
    bool haveDescr = false, haveFortran = false, haveShape = false;
    skipSpace();
    if (!eat('{'))
      return fail(error, "the header is not a dict (expected '{')");
    for (;;) {
      skipSpace();
      if (eat('}'))
        break;
      std::string key;
      if (!string(&key))
        return fail(error, "expected a quoted key in the header dict");
      skipSpace();
      if (!eat(':'))
        return fail(error, "expected ':' after key '" + key + "'");
      skipSpace();
      if (key == "descr") {
        if (haveDescr)
          return fail(error, "the header repeats 'descr'");
        if (!string(descr))
          return fail(error, "'descr' is not a string");
        haveDescr = true;
      } else if (key == "fortran_order") {
        if (haveFortran)
          return fail(error, "the header repeats 'fortran_order'");
        if (word("True"))
          *fortran = true;
        else if (word("False"))
          *fortran = false;
        else
          return fail(error, "'fortran_order' is not True or False");
        haveFortran = true;
      } else if (key == "shape") {
        if (haveShape)
          return fail(error, "the header repeats 'shape'");
        std::string e;
        if (!tuple(shape, &e))
          return fail(error, "'shape' " + e);
        haveShape = true;
      } else {
        return fail(error, "unknown header key '" + key + "'");
      }
      skipSpace();
      if (eat(','))
        continue;
      skipSpace();
      if (eat('}'))
        break;
      return fail(error, "expected ',' or '}' in the header dict");
    }
    skipSpace();
    if (p_ != end_)
      return fail(error, "unexpected text after the header dict");
    if (!haveDescr || !haveFortran || !haveShape)
      return fail(error, std::string("the header lacks '") +
                             (!haveDescr ? "descr" : !haveFortran ? "fortran_order" : "shape") +
                             "'");
    return true;
  }

private:
  static bool fail(std::string *error, const std::string &msg) {
    *error = msg;
    return false;
  }
  void skipSpace() {
    while (p_ < end_ && (*p_ == ' ' || *p_ == '\t' || *p_ == '\n' || *p_ == '\r'))
      ++p_;
  }
  bool eat(char c) {
    if (p_ < end_ && *p_ == c) {
      ++p_;
      return true;
    }
    return false;
  }
  bool word(const char *w) {
    size_t n = std::strlen(w);
    if (static_cast<size_t>(end_ - p_) >= n && std::memcmp(p_, w, n) == 0) {
      p_ += n;
      return true;
    }
    return false;
  }
  bool string(std::string *out) {
    if (p_ >= end_ || (*p_ != '\'' && *p_ != '"'))
      return false;
    char quote = *p_++;
    out->clear();
    while (p_ < end_ && *p_ != quote) {
      if (*p_ == '\\' || *p_ == '\n')
        return false; // no escapes in a valid .npy header
      out->push_back(*p_++);
      if (out->size() > 64)
        return false;
    }
    return eat(quote);
  }
  bool tuple(std::vector<int64_t> *shape, std::string *e) {
    shape->clear();
    if (!eat('(')) {
      *e = "is not a tuple";
      return false;
    }
    skipSpace();
    if (eat(')'))
      return true;
    for (;;) {
      skipSpace();
      if (p_ >= end_ || *p_ < '0' || *p_ > '9') {
        *e = "holds something other than a non-negative integer";
        return false;
      }
      int64_t v = 0;
      while (p_ < end_ && *p_ >= '0' && *p_ <= '9') {
        if (v > (std::numeric_limits<int64_t>::max() - 9) / 10) {
          *e = "has a dimension that is too large";
          return false;
        }
        v = v * 10 + (*p_++ - '0');
      }
      if (p_ < end_ && *p_ == 'L') // Python 2 longs
        ++p_;
      shape->push_back(v);
      if (shape->size() > kMaxRank) {
        *e = "has more than 32 dimensions";
        return false;
      }
      skipSpace();
      if (eat(')'))
        return true;
      if (!eat(',')) {
        *e = "is not a tuple of integers";
        return false;
      }
      skipSpace();
      if (eat(')'))
        return true;
    }
  }

  const char *p_;
  const char *end_;
};

std::string shapeText(const std::vector<int64_t> &shape) {
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i)
    s += std::to_string(shape[i]) + (shape.size() == 1 || i + 1 < shape.size() ? "," : "") +
         (i + 1 < shape.size() ? " " : "");
  return s + ")";
}

const char *descrOf(moert_dtype_t dtype) {
  switch (dtype) {
  case MOERT_F32: return "<f4";
  case MOERT_F16: return "<f2";
  case MOERT_I32: return "<i4";
  default: return nullptr;
  }
}

} // namespace

size_t Array::elements() const {
  size_t n = 1;
  for (int64_t d : shape)
    n *= static_cast<size_t>(d);
  return n;
}

bool parse(const uint8_t *data, size_t size, Array *out, std::string *error) {
  if (!data && size)
    return *error = "no data", false;
  if (size < 10)
    return *error = "not a .npy file: " + std::to_string(size) +
                    " bytes, too short for the header",
           false;
  if (std::memcmp(data, kMagic, sizeof kMagic) != 0)
    return *error = "not a .npy file (bad magic; expected \\x93NUMPY)", false;
  unsigned major = data[6], minor = data[7];
  size_t headerLen, headerStart;
  if (major == 1) {
    headerLen = data[8] | (size_t(data[9]) << 8);
    headerStart = 10;
  } else if (major == 2 || major == 3) {
    if (size < 12)
      return *error = "truncated .npy header", false;
    headerLen = data[8] | (size_t(data[9]) << 8) | (size_t(data[10]) << 16) |
                (size_t(data[11]) << 24);
    headerStart = 12;
  } else {
    return *error = "unsupported .npy format version " + std::to_string(major) +
                    "." + std::to_string(minor) + " (expected 1.x, 2.x or 3.x)",
           false;
  }
  if (headerLen > size - headerStart)
    return *error = "truncated .npy header: it claims " + std::to_string(headerLen) +
                    " bytes, the file has " + std::to_string(size - headerStart) +
                    " after the preamble",
           false;
  const char *header = reinterpret_cast<const char *>(data + headerStart);
  if (headerLen == 0 || header[headerLen - 1] != '\n')
    return *error = "malformed .npy header: it does not end with a newline", false;

  std::string descr, herr;
  bool fortran = false;
  std::vector<int64_t> shape;
  if (!HeaderParser(header, headerLen).parse(&descr, &fortran, &shape, &herr))
    return *error = "malformed .npy header: " + herr, false;

  moert_dtype_t dtype;
  size_t item;
  if (descr == "<f4" || descr == "=f4") {
    dtype = MOERT_F32, item = 4;
  } else if (descr == "<f2" || descr == "=f2") {
    dtype = MOERT_F16, item = 2;
  } else if (descr == "<i4" || descr == "=i4") {
    dtype = MOERT_I32, item = 4;
  } else if (!descr.empty() && descr[0] == '>') {
    return *error = "unsupported .npy dtype '" + descr +
                    "': big-endian data (save it little-endian)",
           false;
  } else {
    return *error = "unsupported .npy dtype '" + descr +
                    "' (supported: '<f4' float32, '<f2' float16, '<i4' int32)",
           false;
  }
  if (fortran)
    return *error = "Fortran-order .npy arrays are not supported (save it in C order)",
           false;

  size_t elems = 1, bytes = 0;
  for (int64_t d : shape)
    if (__builtin_mul_overflow(elems, static_cast<size_t>(d), &elems))
      return *error = "the .npy shape " + shapeText(shape) + " is too large", false;
  if (__builtin_mul_overflow(elems, item, &bytes))
    return *error = "the .npy shape " + shapeText(shape) + " is too large", false;
  size_t dataStart = headerStart + headerLen;
  size_t have = size - dataStart;
  if (have < bytes)
    return *error = "truncated .npy data: " + descr + " " + shapeText(shape) +
                    " needs " + std::to_string(bytes) + " bytes, the file has " +
                    std::to_string(have),
           false;
  if (have > bytes)
    return *error = "malformed .npy file: " + std::to_string(have - bytes) +
                    " bytes after the data of " + descr + " " + shapeText(shape),
           false;
  out->dtype = dtype;
  out->shape = std::move(shape);
  out->data.assign(data + dataStart, data + dataStart + bytes);
  return true;
}

bool readFile(const std::string &path, Array *out, std::string *error) {
  std::string bytes;
  std::string why;
  if (!rt::readRegularFile(path.c_str(), UINT64_MAX, &bytes, &why))
    return *error = "'" + path + "': " + why, false;
  if (!parse(reinterpret_cast<const uint8_t *>(bytes.data()), bytes.size(), out, error))
    return *error = "'" + path + "': " + *error, false;
  return true;
}

bool readTokens(const std::string &path, Array *out, std::string *error) {
  if (!readFile(path, out, error))
    return false;
  if (out->dtype != MOERT_F32 || out->shape.size() != 2)
    return *error = "'" + path + "': x must be f32 [T, H]", false;
  return true;
}

std::vector<uint8_t> serialize(moert_dtype_t dtype, const void *data,
                               const std::vector<int64_t> &shape) {
  if (dtype == MOERT_BF16) { // NumPy has no bf16: widened exactly to f32
    size_t elems = 1;
    for (int64_t d : shape)
      elems *= static_cast<size_t>(d);
    std::vector<float> wide(elems);
    for (size_t i = 0; i < elems; ++i) {
      uint16_t b;
      std::memcpy(&b, static_cast<const uint8_t *>(data) + 2 * i, 2);
      wide[i] = bf16ToFloat(b);
    }
    return serialize(MOERT_F32, wide.data(), shape);
  }
  const char *descr = descrOf(dtype);
  if (!descr)
    return {};
  std::string dict = std::string("{'descr': '") + descr +
                     "', 'fortran_order': False, 'shape': " + shapeText(shape) +
                     ", }";
  // Pad so the data starts on a 64-byte boundary; the header ends with '\n'.
  size_t total = 10 + dict.size() + 1;
  size_t padded = (total + 63) / 64 * 64;
  dict.append(padded - total, ' ');
  dict.push_back('\n');
  std::vector<uint8_t> out(kMagic, kMagic + sizeof kMagic);
  out.push_back(1);
  out.push_back(0);
  out.push_back(static_cast<uint8_t>(dict.size() & 0xff));
  out.push_back(static_cast<uint8_t>(dict.size() >> 8));
  out.insert(out.end(), dict.begin(), dict.end());
  size_t elems = 1;
  for (int64_t d : shape)
    elems *= static_cast<size_t>(d);
  const uint8_t *p = static_cast<const uint8_t *>(data);
  out.insert(out.end(), p, p + elems * moert_dtype_size(dtype));
  return out;
}

Array roundedTo16(const Array &f32, moert_dtype_t dtype) {
  if (f32.dtype != MOERT_F32 || (dtype != MOERT_BF16 && dtype != MOERT_F16))
    return f32; // nothing to round
  Array out;
  out.dtype = dtype;
  out.shape = f32.shape;
  out.data.resize(f32.elements() * 2);
  for (size_t i = 0; i < f32.elements(); ++i) {
    float f;
    std::memcpy(&f, f32.data.data() + 4 * i, 4);
    uint16_t h = dtype == MOERT_BF16 ? floatToBf16(f) : floatToHalf(f);
    std::memcpy(out.data.data() + 2 * i, &h, 2);
  }
  return out;
}

std::vector<uint8_t> serializeF32(const float *values,
                                  const std::vector<int64_t> &shape) {
  return serialize(MOERT_F32, values, shape);
}

bool writeFile(const std::string &path, const std::vector<uint8_t> &bytes,
               std::string *error) {
  FILE *f = std::fopen(path.c_str(), "wb");
  if (!f)
    return *error = "cannot write '" + path + "': " + std::strerror(errno), false;
  size_t n = bytes.empty() ? 0 : std::fwrite(bytes.data(), 1, bytes.size(), f);
  bool ok = n == bytes.size();
  ok = (std::fclose(f) == 0) && ok;
  if (!ok)
    return *error = "cannot write '" + path + "': " + std::strerror(errno), false;
  return true;
}


} // namespace moert::npy
