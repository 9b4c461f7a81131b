//===- SafetensorsTest.cpp - the safetensors reader, hostile input too ----===//
#include "moec/Support/Safetensors.h"

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

#include <gtest/gtest.h>

#include <cstring>

using namespace moec;

namespace {

/// A file image: 8-byte little-endian header length, header, data.
std::string image(const std::string &header, const std::string &data,
                  uint64_t claimedLength = ~0ull) {
  uint64_t n = claimedLength == ~0ull ? header.size() : claimedLength;
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i)
    out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return out + header + data;
}

llvm::Expected<std::unique_ptr<SafetensorsFile>> parse(const std::string &bytes) {
  return SafetensorsFile::parse(
      llvm::MemoryBuffer::getMemBufferCopy(bytes, "test.safetensors"),
      "test.safetensors");
}

/// The error message of a parse that must fail.
std::string errorOf(const std::string &bytes) {
  auto file = parse(bytes);
  if (file)
    return "<parsed>";
  return llvm::toString(file.takeError());
}

std::string floats(std::initializer_list<float> values) {
  std::string s;
  for (float v : values)
    s.append(reinterpret_cast<const char *>(&v), sizeof(float));
  return s;
}

TEST(Safetensors, ParsesTensorsAndTheirBytes) {
  std::string header =
      R"({"__metadata__":{"format":"pt"},)"
      R"("b":{"dtype":"BF16","shape":[2],"data_offsets":[24,28]},)"
      R"("a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}})";
  std::string data = floats({1, 2, 3, 4, 5, 6}) + std::string("\x80\x3f\x00\x40", 4);
  auto file = parse(image(header, data));
  ASSERT_TRUE(bool(file)) << llvm::toString(file.takeError());
  ASSERT_EQ((*file)->getTensors().size(), 2u);
  // Sorted by offset: a, then b.
  const SafetensorsTensor &a = (*file)->getTensors()[0];
  EXPECT_EQ(a.name, "a");
  EXPECT_EQ(a.dtype, SafetensorsDType::F32);
  EXPECT_EQ(a.getShapeString(), "[2, 3]");
  EXPECT_EQ(a.getNumElements(), 6);
  float v[6];
  std::memcpy(v, a.data.data(), sizeof(v));
  EXPECT_EQ(v[5], 6.0f);
  const SafetensorsTensor *b = (*file)->find("b");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->dtype, SafetensorsDType::BF16);
  EXPECT_EQ(b->data.size(), 4u);
  EXPECT_EQ((*file)->find("c"), nullptr);
}

TEST(Safetensors, EmptyAndZeroSizedTensors) {
  auto file = parse(image(R"({"z":{"dtype":"F32","shape":[0,5],"data_offsets":[0,0]}})", ""));
  ASSERT_TRUE(bool(file)) << llvm::toString(file.takeError());
  EXPECT_EQ((*file)->find("z")->getNumElements(), 0);
  auto none = parse(image("{}", ""));
  ASSERT_TRUE(bool(none));
  EXPECT_TRUE((*none)->getTensors().empty());
}

TEST(Safetensors, RejectsShortAndTruncatedFiles) {
  EXPECT_EQ(errorOf(""), "test.safetensors: file is 0 bytes, too short for the "
                         "8-byte header length (truncated or not a safetensors file)");
  EXPECT_EQ(errorOf("abc"), "test.safetensors: file is 3 bytes, too short for "
                            "the 8-byte header length (truncated or not a "
                            "safetensors file)");
  // The header claims 100 bytes; 10 follow.
  EXPECT_EQ(errorOf(image("{\"a\":1}   ", "", 100)),
            "test.safetensors: truncated or not a safetensors file: the header "
            "length in its first 8 bytes runs past the end of the file (18 "
            "bytes)");
  // Data cut short: the tensor needs 24 bytes, 8 are there.
  std::string header = R"({"a":{"dtype":"F32","shape":[6],"data_offsets":[0,24]}})";
  EXPECT_EQ(errorOf(image(header, floats({1, 2}))),
            "test.safetensors: tensor 'a': data_offsets [0, 24] run past the "
            "data section of 8 bytes: truncated?");
}

TEST(Safetensors, RejectsHugeHeaderLength) {
  EXPECT_EQ(errorOf(image("{}", "", 1ull << 62)),
            "test.safetensors: not a safetensors file: its first 8 bytes are "
            "not a header length (more than the 104857600-byte limit)");
  // The bytes are not echoed as if they were a length.
  EXPECT_EQ(errorOf(image("{}", "", ~1ull)).find("18446744073709551614"),
            std::string::npos);
}

TEST(Safetensors, RejectsDeeplyNestedJson) {
  // llvm::json::parse recurses per level: 40000 levels overflowed the stack.
  std::string deep = "{\"a\":" + std::string(40000, '[') +
                     std::string(40000, ']') + "}";
  EXPECT_EQ(errorOf(image(deep, "")),
            "test.safetensors: malformed JSON header: nested more than 128 "
            "levels deep; refused");
  // Brackets inside strings do not count.
  std::string quoted = "{\"__metadata__\":{\"k\":\"" +
                       std::string(1000, '[') + "\"}}";
  EXPECT_TRUE(bool(parse(image(quoted, ""))));
}

TEST(Safetensors, RejectsMalformedJson) {
  EXPECT_EQ(errorOf(image(R"({"a": {"dtype": "F32",})", "")),
            "test.safetensors: malformed JSON header: line 1, column 23: "
            "Expected object key");
  EXPECT_EQ(errorOf(image("[1, 2]", "")),
            "test.safetensors: the JSON header is not an object");
  EXPECT_EQ(errorOf(image(std::string("{\"a\"\0:1}", 8), "")).substr(0, 45),
            "test.safetensors: malformed JSON header: line");
}

TEST(Safetensors, RejectsBadEntries) {
  auto err = [](const std::string &entry, const std::string &data = "") {
    return errorOf(image("{\"t\":" + entry + "}", data));
  };
  EXPECT_EQ(err("5"), "test.safetensors: tensor 't': entry is not an object");
  EXPECT_EQ(err(R"({"shape":[1],"data_offsets":[0,4]})"),
            "test.safetensors: tensor 't': missing string 'dtype'");
  EXPECT_EQ(err(R"({"dtype":"F31","shape":[1],"data_offsets":[0,4]})"),
            "test.safetensors: tensor 't': unknown dtype 'F31'");
  EXPECT_EQ(err(R"({"dtype":"F32","data_offsets":[0,4]})"),
            "test.safetensors: tensor 't': missing array 'shape'");
  EXPECT_EQ(err(R"({"dtype":"F32","shape":[-1],"data_offsets":[0,4]})"),
            "test.safetensors: tensor 't': shape entries must be non-negative integers");
  EXPECT_EQ(err(R"({"dtype":"F32","shape":[1.5],"data_offsets":[0,4]})"),
            "test.safetensors: tensor 't': shape entries must be non-negative integers");
  EXPECT_EQ(err(R"({"dtype":"F32","shape":[1],"data_offsets":[0]})"),
            "test.safetensors: tensor 't': 'data_offsets' must be an array of two integers");
  EXPECT_EQ(err(R"({"dtype":"F32","shape":[1],"data_offsets":[0,-4]})"),
            "test.safetensors: tensor 't': 'data_offsets' must be non-negative integers");
  EXPECT_EQ(err(R"({"dtype":"F32","shape":[1],"data_offsets":[4,0]})", floats({1})),
            "test.safetensors: tensor 't': data_offsets [4, 0] are reversed");
  EXPECT_EQ(err(R"({"dtype":"F32","shape":[2],"data_offsets":[0,4]})", floats({1})),
            "test.safetensors: tensor 't': F32 [2] needs 8 bytes but data_offsets "
            "[0, 4] hold 4");
  EXPECT_EQ(err(R"({"dtype":"F32","shape":[1099511627776,1099511627776],"data_offsets":[0,4]})"),
            "test.safetensors: tensor 't': shape [1099511627776, 1099511627776] "
            "overflows a 64-bit byte count");
  EXPECT_EQ(errorOf(image(R"({"__metadata__":[1]})", "")),
            "test.safetensors: __metadata__ is not an object");
}

TEST(Safetensors, RejectsOverlappingTensors) {
  std::string header =
      R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
      R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})";
  EXPECT_EQ(errorOf(image(header, floats({1, 2, 3}))),
            "test.safetensors: tensor 'b': bytes overlap those of tensor 'a'");
}

TEST(Safetensors, RecognisesButDoesNotConvertFp8) {
  auto file = parse(image(R"({"q":{"dtype":"F8_E4M3","shape":[4],"data_offsets":[0,4]}})",
                          std::string(4, '\x10')));
  ASSERT_TRUE(bool(file)) << llvm::toString(file.takeError());
  EXPECT_EQ((*file)->find("q")->dtype, SafetensorsDType::F8_E4M3);
  EXPECT_FALSE(isSupportedWeightDType(SafetensorsDType::F8_E4M3));
  EXPECT_TRUE(isSupportedWeightDType(SafetensorsDType::BF16));
}

/// A temporary directory removed at the end of the test.
class TempDir {
public:
  TempDir() {
    llvm::SmallString<128> p;
    EXPECT_FALSE(llvm::sys::fs::createUniqueDirectory("moec-st", p));
    path = std::string(p);
  }
  ~TempDir() { llvm::sys::fs::remove_directories(path); }
  std::string file(llvm::StringRef name, const std::string &contents) const {
    llvm::SmallString<128> p(path);
    llvm::sys::path::append(p, name);
    std::error_code ec;
    llvm::raw_fd_ostream os(p, ec);
    EXPECT_FALSE(ec);
    os << contents;
    return std::string(p);
  }
  std::string path;
};

TEST(SafetensorsCheckpoint, SingleFileAndShards) {
  TempDir dir;
  std::string one = image(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", floats({7}));
  std::string two = image(R"({"v":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", floats({8, 9}));
  dir.file("model-00001-of-00002.safetensors", one);
  dir.file("model-00002-of-00002.safetensors", two);
  dir.file("model.safetensors.index.json",
           R"({"metadata":{},"weight_map":{"v":"model-00002-of-00002.safetensors",)"
           R"("w":"model-00001-of-00002.safetensors"}})");
  std::vector<std::string> seen;
  auto ckpt = SafetensorsCheckpoint::open(
      dir.path, [&](size_t i, size_t n, llvm::StringRef p, uint64_t bytes) {
        seen.push_back(std::to_string(i) + "/" + std::to_string(n) + " " +
                       llvm::sys::path::filename(p).str() + " " +
                       std::to_string(bytes));
      });
  ASSERT_TRUE(bool(ckpt)) << llvm::toString(ckpt.takeError());
  EXPECT_EQ((*ckpt)->getNumShards(), 2u);
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0], "1/2 model-00001-of-00002.safetensors " + std::to_string(one.size()));
  EXPECT_EQ(seen[1], "2/2 model-00002-of-00002.safetensors " + std::to_string(two.size()));
  auto v = (*ckpt)->lookup("v");
  ASSERT_TRUE(bool(v));
  EXPECT_EQ((*v)->getNumElements(), 2);
  EXPECT_TRUE(llvm::StringRef((*ckpt)->getSourcePath()).ends_with("model.safetensors.index.json"));
  auto missing = (*ckpt)->lookup("nope");
  ASSERT_FALSE(bool(missing));
  EXPECT_NE(llvm::toString(missing.takeError()).find("no tensor named 'nope'"),
            std::string::npos);
}

TEST(SafetensorsCheckpoint, RejectsInconsistentIndexes) {
  TempDir dir;
  dir.file("a.safetensors", image(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", floats({7})));
  auto index = [&](const std::string &json) {
    std::string p = dir.file("model.safetensors.index.json", json);
    auto ckpt = SafetensorsCheckpoint::open(p);
    return ckpt ? std::string("<opened>") : llvm::toString(ckpt.takeError());
  };
  EXPECT_NE(index(R"({"weight_map":{"x":"a.safetensors"}})")
                .find("weight_map puts tensor 'x' in a.safetensors, which does not contain it"),
            std::string::npos);
  EXPECT_NE(index(R"({"weight_map":{"w":"../a.safetensors"}})")
                .find("which is not a file name in the checkpoint's directory"),
            std::string::npos);
  EXPECT_NE(index(R"({"weight_map":{"w":"b.safetensors"}})").find("b.safetensors: cannot open"),
            std::string::npos);
  EXPECT_NE(index(R"({"weights":{}})").find("missing object 'weight_map'"), std::string::npos);
  EXPECT_NE(index(R"({"weight_map":{"w":"a.safetensors",}})").find("malformed JSON: line 1, column"),
            std::string::npos);
}

TEST(SafetensorsCheckpoint, DirectoryWithoutWeights) {
  TempDir dir;
  auto ckpt = SafetensorsCheckpoint::open(dir.path);
  ASSERT_FALSE(bool(ckpt));
  EXPECT_NE(llvm::toString(ckpt.takeError())
                .find("no model.safetensors or model.safetensors.index.json"),
            std::string::npos);
}

} // namespace
