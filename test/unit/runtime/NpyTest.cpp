//===- NpyTest.cpp - the .npy reader on good and hostile inputs ------------===//
#include "Npy.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

using moert::npy::Array;
using moert::npy::parse;

namespace {

std::vector<uint8_t> file(const std::string &dict, unsigned major = 1,
                          const std::vector<uint8_t> &data = {}, bool pad = true) {
  std::string h = dict;
  size_t pre = major == 1 ? 10 : 12;
  if (pad)
    while ((pre + h.size() + 1) % 64)
      h.push_back(' ');
  h.push_back('\n');
  std::vector<uint8_t> out = {0x93, 'N', 'U', 'M', 'P', 'Y', uint8_t(major), 0};
  if (major == 1) {
    out.push_back(uint8_t(h.size()));
    out.push_back(uint8_t(h.size() >> 8));
  } else {
    for (int i = 0; i < 4; ++i)
      out.push_back(uint8_t(h.size() >> (8 * i)));
  }
  out.insert(out.end(), h.begin(), h.end());
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

std::vector<uint8_t> floats(std::vector<float> v) {
  std::vector<uint8_t> b(v.size() * 4);
  std::memcpy(b.data(), v.data(), b.size());
  return b;
}

std::string parseError(const std::vector<uint8_t> &bytes) {
  Array a;
  std::string err;
  if (parse(bytes.data(), bytes.size(), &a, &err))
    return "";
  EXPECT_FALSE(err.empty());
  return err;
}

#define EXPECT_NPY_ERROR(bytes, substring)                                        \
  do {                                                                            \
    std::string e_ = parseError(bytes);                                           \
    EXPECT_NE(e_, "") << "parsed, expected: " << (substring);                     \
    EXPECT_NE(e_.find(substring), std::string::npos) << "error: " << e_;          \
  } while (0)

} // namespace

TEST(Npy, RoundTripsFloat32) {
  std::vector<float> v = {1, -2.5f, 3, 4, 5, 6};
  std::vector<uint8_t> bytes = moert::npy::serializeF32(v.data(), {2, 3});
  EXPECT_EQ((bytes.size() - v.size() * 4) % 64, 0u) << "data not 64-byte aligned";
  Array a;
  std::string err;
  ASSERT_TRUE(parse(bytes.data(), bytes.size(), &a, &err)) << err;
  EXPECT_EQ(a.dtype, MOERT_F32);
  EXPECT_EQ(a.shape, (std::vector<int64_t>{2, 3}));
  ASSERT_EQ(a.data.size(), 24u);
  EXPECT_EQ(std::memcmp(a.data.data(), v.data(), 24), 0);
  EXPECT_EQ(a.elements(), 6u);
}

TEST(Npy, ShapesOfEveryRank) {
  for (auto shape : std::vector<std::vector<int64_t>>{{}, {5}, {0, 3}, {2, 1, 2}}) {
    size_t n = 1;
    for (int64_t d : shape)
      n *= size_t(d);
    std::vector<float> v(n, 1.0f);
    std::vector<uint8_t> bytes = moert::npy::serializeF32(v.data(), shape);
    Array a;
    std::string err;
    ASSERT_TRUE(parse(bytes.data(), bytes.size(), &a, &err)) << err;
    EXPECT_EQ(a.shape, shape);
  }
}

TEST(Npy, HeadersAsNumPyWritesThem) {
  // Version 1, 2 and 3 headers, either quote style, keys in any order, no
  // trailing comma, Python 2 style longs.
  std::vector<uint8_t> d = floats({1, 2, 3, 4});
  for (unsigned major : {1u, 2u, 3u}) {
    Array a;
    std::string err;
    auto b = file("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }", major, d);
    ASSERT_TRUE(parse(b.data(), b.size(), &a, &err)) << err;
    EXPECT_EQ(a.shape, (std::vector<int64_t>{2, 2}));
  }
  Array a;
  std::string err;
  auto b = file("{\"shape\": (4L,), \"descr\": \"<f4\", \"fortran_order\": False}", 1, d);
  ASSERT_TRUE(parse(b.data(), b.size(), &a, &err)) << err;
  EXPECT_EQ(a.shape, (std::vector<int64_t>{4}));
  auto unpadded = file("{'descr': '<f4', 'fortran_order': False, 'shape': (4,)}", 1, d, false);
  ASSERT_TRUE(parse(unpadded.data(), unpadded.size(), &a, &err)) << err;
}

TEST(Npy, Float16AndInt32) {
  std::vector<uint8_t> d = {0x00, 0x3c, 0x00, 0xc0}; // 1.0, -2.0
  auto b = file("{'descr': '<f2', 'fortran_order': False, 'shape': (2,), }", 1, d);
  Array a;
  std::string err;
  ASSERT_TRUE(parse(b.data(), b.size(), &a, &err)) << err;
  EXPECT_EQ(a.dtype, MOERT_F16);
  uint16_t h0, h1;
  std::memcpy(&h0, a.data.data(), 2);
  std::memcpy(&h1, a.data.data() + 2, 2);
  EXPECT_EQ(moert::npy::halfToFloat(h0), 1.0f);
  EXPECT_EQ(moert::npy::halfToFloat(h1), -2.0f);
  auto c = file("{'descr': '<i4', 'fortran_order': False, 'shape': (1,), }", 1, {7, 0, 0, 0});
  ASSERT_TRUE(parse(c.data(), c.size(), &a, &err)) << err;
  EXPECT_EQ(a.dtype, MOERT_I32);
}

TEST(Npy, HalfConversions) {
  for (float f : {0.0f, 1.0f, -2.0f, 0.5f, 65504.0f, 6.103515625e-05f, 5.960464477539063e-08f, -0.0f})
    EXPECT_EQ(moert::npy::halfToFloat(moert::npy::floatToHalf(f)), f) << f;
  EXPECT_TRUE(std::isinf(moert::npy::halfToFloat(moert::npy::floatToHalf(1e6f))));
  EXPECT_TRUE(std::isnan(moert::npy::halfToFloat(moert::npy::floatToHalf(NAN))));
  EXPECT_EQ(moert::npy::floatToHalf(1.0f + 1.0f / 4096), 0x3c00);      // rounds down
  EXPECT_EQ(moert::npy::floatToHalf(1.0f + 1.0f / 2048), 0x3c00);      // a tie: to even
  EXPECT_EQ(moert::npy::floatToHalf(1.0f + 3.0f / 2048), 0x3c02);      // a tie: to even
  EXPECT_EQ(moert::npy::floatToHalf(65520.0f), 0x7c00);                // overflows to inf
  EXPECT_EQ(moert::npy::floatToHalf(2.98023223876953125e-08f), 0x0000); // 2^-25: a tie to 0
  for (uint32_t h = 0; h < 0x7c00; ++h) // every finite half round-trips
    ASSERT_EQ(moert::npy::floatToHalf(moert::npy::halfToFloat(uint16_t(h))), h) << h;
  EXPECT_EQ(moert::npy::bf16ToFloat(0x3f80), 1.0f);
}

TEST(Npy, RejectsOtherDTypesAndLayouts) {
  std::vector<uint8_t> d8(16, 0);
  EXPECT_NPY_ERROR(file("{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }", 1, d8),
                   "unsupported .npy dtype '<f8' (supported: '<f4' float32, '<f2' float16, '<i4' int32)");
  EXPECT_NPY_ERROR(file("{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", 1, d8),
                   "big-endian");
  EXPECT_NPY_ERROR(file("{'descr': '|u1', 'fortran_order': False, 'shape': (2,), }", 1, d8),
                   "unsupported .npy dtype '|u1'");
  EXPECT_NPY_ERROR(file("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }", 1, d8),
                   "'descr' is not a string");
  EXPECT_NPY_ERROR(file("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", 1, d8),
                   "Fortran-order .npy arrays are not supported");
}

TEST(Npy, RejectsMalformedHeaders) {
  std::vector<uint8_t> d = floats({1, 2});
  EXPECT_NPY_ERROR(std::vector<uint8_t>(), "too short");
  EXPECT_NPY_ERROR(std::vector<uint8_t>(9, 0x93), "too short");
  std::vector<uint8_t> magic = file("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", 1, d);
  magic[1] = 'X';
  EXPECT_NPY_ERROR(magic, "bad magic");
  EXPECT_NPY_ERROR(file("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", 4, d),
                   "unsupported .npy format version 4.0");
  EXPECT_NPY_ERROR(file("{'descr': '<f4', 'shape': (2,), }", 1, d), "lacks 'fortran_order'");
  EXPECT_NPY_ERROR(file("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': 1}", 1, d),
                   "unknown header key 'x'");
  EXPECT_NPY_ERROR(file("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (2,)}", 1, d),
                   "repeats 'descr'");
  EXPECT_NPY_ERROR(file("{'descr': '<f4', 'fortran_order': Maybe, 'shape': (2,)}", 1, d),
                   "'fortran_order' is not True or False");
  EXPECT_NPY_ERROR(file("{'descr': '<f4', 'fortran_order': False, 'shape': (-2,)}", 1, d),
                   "'shape' holds something other than a non-negative integer");
  EXPECT_NPY_ERROR(file("{'descr': '<f4', 'fortran_order': False, 'shape': [2]}", 1, d),
                   "'shape' is not a tuple");
  EXPECT_NPY_ERROR(file("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,)}", 1, d),
                   "too large");
  EXPECT_NPY_ERROR(file("{'descr': '<f4', 'fortran_order': False, 'shape': (2,)} junk", 1, d),
                   "unexpected text after the header dict");
  EXPECT_NPY_ERROR(file("'descr': '<f4'", 1, d), "not a dict");
  // The header length runs past the end of the file.
  std::vector<uint8_t> longHeader = file("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", 1, d);
  longHeader[8] = 0xff;
  longHeader[9] = 0xff;
  EXPECT_NPY_ERROR(longHeader, "truncated .npy header");
  // The header does not end with a newline.
  std::vector<uint8_t> noNewline = file("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", 1, d);
  noNewline[10 + (noNewline[8] | (noNewline[9] << 8)) - 1] = ' ';
  EXPECT_NPY_ERROR(noNewline, "does not end with a newline");
  // 33 dimensions.
  std::string many = "(";
  for (int i = 0; i < 33; ++i)
    many += "1, ";
  EXPECT_NPY_ERROR(file("{'descr': '<f4', 'fortran_order': False, 'shape': " + many + ")}", 1, d),
                   "more than 32 dimensions");
}

TEST(Npy, RejectsTruncatedAndTrailingData) {
  std::vector<uint8_t> good = file("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }", 1,
                                   floats({1, 2, 3, 4, 5, 6}));
  std::vector<uint8_t> cut(good.begin(), good.end() - 1);
  EXPECT_NPY_ERROR(cut, "truncated .npy data: <f4 (3, 2) needs 24 bytes, the file has 23");
  std::vector<uint8_t> more = good;
  more.push_back(0);
  EXPECT_NPY_ERROR(more, "1 bytes after the data");
  // A shape whose byte count overflows.
  EXPECT_NPY_ERROR(file("{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 8), }", 1, {}),
                   "is too large");
  EXPECT_NPY_ERROR(file("{'descr': '<f4', 'fortran_order': False, 'shape': (1000000000, 1000000000), }", 1, {}),
                   "truncated .npy data");
}

// Every prefix and thousands of random corruptions: an error or a result,
// never a crash or an out-of-bounds read (ASan builds check the latter).
TEST(Npy, HostileInputsNeverCrash) {
  std::vector<float> v(12, 1.5f);
  std::vector<uint8_t> good = moert::npy::serializeF32(v.data(), {3, 4});
  for (size_t n = 0; n < good.size(); ++n) {
    std::vector<uint8_t> cut(good.begin(), good.begin() + n);
    ASSERT_NE(parseError(cut), "") << "a " << n << "-byte prefix parses";
  }
  std::mt19937 rng(1);
  for (int i = 0; i < 20000; ++i) {
    std::vector<uint8_t> b = good;
    int edits = 1 + i % 3;
    for (int e = 0; e < edits; ++e)
      b[rng() % 80] = uint8_t(rng());
    Array a;
    std::string err;
    if (parse(b.data(), b.size(), &a, &err)) {
      ASSERT_LE(a.data.size(), b.size());
    }
  }
}

TEST(Npy, ReadAndWriteFiles) {
  std::string path = ::testing::TempDir() + "moert-npy-test.npy";
  std::vector<float> v = {1, 2, 3};
  std::string err;
  ASSERT_TRUE(moert::npy::writeFile(path, moert::npy::serializeF32(v.data(), {3}), &err)) << err;
  Array a;
  ASSERT_TRUE(moert::npy::readFile(path, &a, &err)) << err;
  EXPECT_EQ(a.shape, std::vector<int64_t>{3});
  std::remove(path.c_str());
  EXPECT_FALSE(moert::npy::readFile(path, &a, &err));
  EXPECT_NE(err.find("cannot open"), std::string::npos) << err;
  EXPECT_FALSE(moert::npy::writeFile("/nonexistent-dir/x.npy", {1}, &err));
  EXPECT_NE(err.find("cannot write"), std::string::npos) << err;
}
