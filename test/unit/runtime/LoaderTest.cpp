//===- LoaderTest.cpp - every check of docs/artifact.md's loader ----------===//
#include "TestUtil.h"
#include "moert/intq.h"
#include "moert/mxfp4.h"

#include <sodium.h>

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <limits>
#include <unistd.h>

using namespace moert::test;
namespace fb = moert::fb;

namespace {

constexpr int64_t kMaxT = 8;

/// Iterations of the random-corruption tests: `fallback`, or
/// MOERT_TEST_ITERATIONS (for a longer soak, e.g. under ASan).
int iterations(int fallback) {
  const char *env = std::getenv("MOERT_TEST_ITERATIONS");
  int n = env ? std::atoi(env) : 0;
  return n > 0 ? n : fallback;
}

/// The seed of the random-corruption tests (MOERT_TEST_SEED, default `fallback`).
uint32_t seed(uint32_t fallback) {
  const char *env = std::getenv("MOERT_TEST_SEED");
  return env ? static_cast<uint32_t>(std::strtoul(env, nullptr, 10)) : fallback;
}

/// A small artifact using every command kind:
///   weights: 0 w f32 [8, 8], 1 bias f32 [8], 2 wg f32 [2, 8, 8], 3 offs i32 [3]
///   kernel 0: moert_test_add_bias8 (3 args) in code object 0
///   forward(x: f32 [T, 8]) -> y: f32 [T, 8]
///     buffers 0 x, 1 h, 2 y, 4 g: 32·T bytes; 3 off: 16 bytes
///     0 Gemm(x, w, h) 1 Launch(add_bias8, h, bias, y) 2 Copy(offs -> off)
///     3 GroupedGemm(x, wg, g, off) 4 Fill(g, 0)
void makeSmall(ArtifactBuilder &b) {
  std::vector<float> w = randomFloats(64, 1);
  b.addWeightF32("w", {8, 8}, w);
  b.addWeightF32("bias", {8}, randomFloats(8, 2));
  b.addWeightF32("wg", {2, 8, 8}, randomFloats(128, 3));
  b.addWeightI32("offs", {3}, {0, 0, 0});
  uint32_t k = b.testKernel("moert_test_add_bias8", 3);
  FunctionBuilder f = b.function("forward");
  uint32_t x = f.buffer(32, 0), h = f.buffer(32, 0), y = f.buffer(32, 0),
           off = f.buffer(0, 16), g = f.buffer(32, 0);
  f.input("x", fb::DType::F32, {-1, 8}, x);
  f.output("y", fb::DType::F32, {-1, 8}, y);
  f.gemm(buf(x), wt(0), buf(h), aff(1, 0), 8, 8);
  f.launch(k, {buf(h), wt(1), buf(y)}, aff(1, 0), 2);
  f.copy(wt(3), buf(off), aff(0, 12));
  f.groupedGemm(buf(x), wt(2), buf(g), buf(off), aff(1, 0), 2, 8, 8);
  f.fill(buf(g), aff(32, 0), 0);
}

Bytes small() {
  ArtifactBuilder b(kMaxT);
  makeSmall(b);
  return b.build();
}

/// The small artifact after `mutate` edits its table (checksums recomputed).
Bytes mutated(const std::function<void(ArtifactBuilder &)> &mutate,
              bool keepOffsets = false) {
  ArtifactBuilder b(kMaxT);
  makeSmall(b);
  if (keepOffsets)
    b.build(); // lay out once so the offsets are real, then edit them
  mutate(b);
  ArtifactBuilder::Options o;
  o.keepOffsets = keepOffsets;
  return b.build(o);
}

fb::FunctionT &fn(ArtifactBuilder &b) { return *b.model.functions[0]; }
template <typename T> T *cmd(ArtifactBuilder &b, size_t i) {
  return static_cast<T *>(fn(b).commands[i]->command.value);
}

#define EXPECT_LOAD_ERROR(bytes, expected_code, substring)                               \
  do {                                                                          \
    moert::Status s_ = loadStatus(bytes);                                       \
    EXPECT_FALSE(s_.ok()) << "loaded, expected: " << (substring);               \
    EXPECT_EQ(s_.code(), (expected_code)) << s_.message();                               \
    EXPECT_NE(s_.message().find(substring), std::string::npos)                  \
        << "message: " << s_.message() << "\nexpected to contain: " << (substring); \
  } while (0)

} // namespace

TEST(Loader, SmallArtifactLoadsAndDescribesItself) {
  Bytes bytes = small();
  moert::Model m = mustLoad(bytes);
  EXPECT_EQ(m.maxTokens(), kMaxT);
  EXPECT_EQ(m.producer(), "moert tests");
  EXPECT_EQ(m.targetArch(), "x86-64");
  ASSERT_EQ(m.numFunctions(), 1u);
  EXPECT_EQ(m.functionName(0), "forward");
  EXPECT_EQ(moert_model_function_name(m.get(), 1), nullptr);
  auto f = m.function();
  ASSERT_TRUE(f) << f.status().message();
  ASSERT_EQ(f->inputs.size(), 1u);
  EXPECT_EQ(f->inputs[0].name, "x");
  EXPECT_EQ(f->inputs[0].dtype, MOERT_F32);
  EXPECT_EQ(f->inputs[0].shape, (std::vector<int64_t>{-1, 8}));
  ASSERT_EQ(f->outputs.size(), 1u);
  EXPECT_EQ(f->outputs[0].name, "y");
  EXPECT_TRUE(f->auxOutputs.empty());
  EXPECT_STREQ(moert_model_target(m.get()), "cpu");

  moert_tensor_info_t info;
  moert::Status s = moert::Status::adopt(
      moert_model_tensor_info(m.get(), 0, MOERT_TENSOR_INPUT, 1, &info));
  EXPECT_EQ(s.code(), MOERT_NOT_FOUND);
  s = moert::Status::adopt(moert_model_tensor_info(m.get(), 3, MOERT_TENSOR_INPUT, 0, &info));
  EXPECT_EQ(s.code(), MOERT_NOT_FOUND);
}

TEST(Loader, LoadsFromAFileAndReportsMissingOnes) {
  char dir[] = "/tmp/moert-loader-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  std::string path = std::string(dir) + "/m.moeb";
  ASSERT_TRUE(writeBinaryFile(path, small()));
  auto m = moert::Model::load(path);
  EXPECT_TRUE(m) << m.status().message();

  auto missing = moert::Model::load(std::string(dir) + "/nope.moeb");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.status().code(), MOERT_NOT_FOUND);
  EXPECT_NE(missing.status().message().find("nope.moeb"), std::string::npos);
  EXPECT_NE(missing.status().message().find("No such file"), std::string::npos);

  auto directory = moert::Model::load(dir);
  ASSERT_FALSE(directory);
  EXPECT_EQ(directory.status().code(), MOERT_IO_ERROR);
  EXPECT_NE(directory.status().message().find("not a regular file"), std::string::npos);

  // A file error names the file.
  Bytes bad = small();
  bad.back() ^= 1;
  ASSERT_TRUE(writeBinaryFile(path, bad));
  auto corrupted = moert::Model::load(path);
  ASSERT_FALSE(corrupted);
  EXPECT_NE(corrupted.status().message().find(path), std::string::npos);
  EXPECT_NE(corrupted.status().message().find("table checksum"), std::string::npos);
  std::remove(path.c_str());
  rmdir(dir);
}

TEST(Loader, NullArgumentsAreStatuses) {
  moert_model_t *m = reinterpret_cast<moert_model_t *>(1);
  moert::Status s = moert::Status::adopt(moert_model_load_file(nullptr, &m));
  EXPECT_EQ(s.code(), MOERT_INVALID_ARGUMENT);
  EXPECT_EQ(m, nullptr);
  s = moert::Status::adopt(moert_model_load_memory(nullptr, 10, &m));
  EXPECT_EQ(s.code(), MOERT_INVALID_ARGUMENT);
  s = moert::Status::adopt(moert_model_load_memory("x", 1, nullptr));
  EXPECT_EQ(s.code(), MOERT_INVALID_ARGUMENT);
  EXPECT_EQ(moert_model_max_tokens(nullptr), 0);
  EXPECT_EQ(moert_model_num_functions(nullptr), 0u);
}

TEST(Loader, CopiesTheBytesItLoadsFrom) {
  Bytes bytes = small();
  moert::Model m = mustLoad(bytes);
  std::fill(bytes.begin(), bytes.end(), 0xAB); // the caller reuses its buffer
  moert::Session s = mustSession(m);
  std::vector<float> x(8, 1.0f);
  EXPECT_TRUE(s.run("", {f32(x, {1, 8})}));
}

// Verify::Lazy: a corrupted weight loads, and every run of a function that
// reads it fails naming it (never a wrong answer); a function that does not
// read it runs. Full verification refuses the same bytes at load.
TEST(Loader, LazyVerificationChecksAWeightBeforeItsFirstUse) {
  ArtifactBuilder ab(kMaxT);
  makeSmall(ab);
  FunctionBuilder g = ab.function("copy_only"); // reads no weight
  uint32_t gx = g.buffer(32, 0), gy = g.buffer(32, 0);
  g.input("x", fb::DType::F32, {-1, 8}, gx);
  g.output("y", fb::DType::F32, {-1, 8}, gy);
  g.copy(buf(gx), buf(gy), aff(32, 0));
  Bytes b = ab.build();
  const fb::Model *m = fb::GetModel(b.data() + header(b).table_offset);
  b[header(b).blob_offset + m->weights()->Get(2)->offset() + 100] ^= 0x20; // 'wg'
  EXPECT_LOAD_ERROR(b, MOERT_INVALID_ARTIFACT, "weight 2 ('wg'): checksum mismatch");

  auto lazy = moert::Model::fromMemory(b.data(), b.size(), MOERT_VERIFY_LAZY);
  ASSERT_TRUE(lazy) << lazy.status().message();
  moert::Session s = mustSession(*lazy);
  std::vector<float> x(8, 1.0f);
  EXPECT_TRUE(s.run("copy_only", {f32(x, {1, 8})}));
  for (int i = 0; i < 2; ++i) {
    moert::Status r = s.run("forward", {f32(x, {1, 8})});
    EXPECT_EQ(r.code(), MOERT_INVALID_ARTIFACT);
    EXPECT_NE(r.message().find("run 'forward': weight 2 ('wg')"), std::string::npos)
        << r.message();
  }
  // Another session of the same model is refused too.
  moert::Session s2 = mustSession(*lazy);
  EXPECT_EQ(s2.run("forward", {f32(x, {1, 8})}).code(), MOERT_INVALID_ARTIFACT);

  // Intact bytes: lazy and full give the same outputs.
  Bytes good = ab.build();
  auto l = moert::Model::fromMemory(good.data(), good.size(), MOERT_VERIFY_LAZY);
  ASSERT_TRUE(l);
  moert::Model f = mustLoad(good);
  moert::Session sl = mustSession(*l), sf = mustSession(f);
  std::vector<float> yl(8), yf(8);
  std::vector<moert_tensor_t> ol = {f32(yl, {1, 8})}, of = {f32(yf, {1, 8})};
  ASSERT_TRUE(sl.run("forward", {f32(x, {1, 8})}, &ol));
  ASSERT_TRUE(sf.run("forward", {f32(x, {1, 8})}, &of));
  EXPECT_EQ(yl, yf);

  // An unknown mode is refused.
  moert_load_options_t o;
  moert_load_options_init(&o);
  EXPECT_EQ(o.verify, MOERT_VERIFY_FULL);
  int32_t nine = 9; // a caller's value outside the enum (set as C code could)
  std::memcpy(&o.verify, &nine, sizeof nine);
  moert_model_t *raw = nullptr;
  moert::Status bad = moert::Status::adopt(
      moert_model_load_memory_with(good.data(), good.size(), &o, &raw));
  EXPECT_EQ(bad.code(), MOERT_INVALID_ARGUMENT);
  EXPECT_EQ(raw, nullptr);
}

// A blob of more than one checksum chunk: a flip in any chunk is found, and
// the message names the chunk's bytes.
TEST(Loader, EachChunkOfAWeightHasItsChecksum) {
  ArtifactBuilder ab(kMaxT);
  size_t n = (moert::kChecksumChunk * 2 + 4096) / 4; // 3 chunks
  std::vector<float> big(n, 0.5f);
  ab.addWeightF32("big", {static_cast<int64_t>(n)}, big);
  FunctionBuilder f = ab.function("f");
  uint32_t x = f.buffer(32, 0), y = f.buffer(32, 0);
  f.input("x", fb::DType::F32, {-1, 8}, x);
  f.output("y", fb::DType::F32, {-1, 8}, y);
  f.copy(wt(0), buf(y), aff(32, 0));
  Bytes good = ab.build();
  const fb::Model *m = fb::GetModel(good.data() + header(good).table_offset);
  ASSERT_EQ(m->weights()->Get(0)->checksums()->size(), 3u);
  for (uint64_t chunk = 0; chunk < 3; ++chunk) {
    Bytes b = good;
    b[header(b).blob_offset + m->weights()->Get(0)->offset() +
      chunk * moert::kChecksumChunk + 7] ^= 1;
    uint64_t begin = chunk * moert::kChecksumChunk,
             end = std::min<uint64_t>(begin + moert::kChecksumChunk, n * 4);
    EXPECT_LOAD_ERROR(b, MOERT_INVALID_ARTIFACT,
                      "weight 0 ('big'): checksum mismatch in its bytes [" +
                          std::to_string(begin) + ", " + std::to_string(end) + ")");
  }
}

// Every byte is under a checksum: flipping any bit of any byte, or all of
// them, makes the load fail.
TEST(Loader, EveryFlippedByteFailsTheLoad) {
  Bytes good = small();
  ASSERT_TRUE(loadStatus(good).ok());
  for (size_t i = 0; i < good.size(); ++i) {
    for (uint8_t mask : {uint8_t(0xFF), uint8_t(1u << (i % 8))}) {
      Bytes bad = good;
      bad[i] ^= mask;
      moert::Status s = loadStatus(bad);
      ASSERT_FALSE(s.ok()) << "flipping byte " << i << " (mask " << int(mask)
                           << ") of " << good.size() << " still loads";
      ASSERT_FALSE(s.message().empty());
    }
  }
}

TEST(Loader, EveryTruncationFailsTheLoad) {
  Bytes good = small();
  for (size_t n = 0; n < good.size(); ++n) {
    Bytes bad(good.begin(), good.begin() + n);
    moert::Status s = loadStatus(bad);
    ASSERT_FALSE(s.ok()) << "a " << n << "-byte prefix loads";
    if (n < 128)
      ASSERT_NE(s.message().find("smaller than the 128-byte header"), std::string::npos)
          << s.message();
    else
      ASSERT_NE(s.message().find("file_size"), std::string::npos) << s.message();
  }
  Bytes longer = good;
  longer.push_back(0);
  EXPECT_LOAD_ERROR(longer, MOERT_INVALID_ARTIFACT, "truncated or extended");
}

// --- 1. header fields, in order ------------------------------------------------

TEST(LoaderHeader, BadMagic) {
  Bytes b = small();
  b[0] = 'X';
  rehash(b);
  EXPECT_LOAD_ERROR(b, MOERT_INVALID_ARTIFACT, "bad magic");
  EXPECT_LOAD_ERROR(Bytes(200, 0), MOERT_INVALID_ARTIFACT, "bad magic");
}

TEST(LoaderHeader, OtherFormatVersionsNameTheVersion) {
  for (uint32_t v : {0u, 1u, 2u, 3u, 10u, 11u, 0xFFFFFFFFu}) {
    Bytes b = small();
    moert::FileHeader h = header(b);
    h.format_version = v;
    setHeader(b, h);
    rehash(b); // a well-formed artifact of another version
    EXPECT_LOAD_ERROR(b, MOERT_UNSUPPORTED, "format version " + std::to_string(v));
    EXPECT_LOAD_ERROR(b, MOERT_UNSUPPORTED, "reads format versions 4 to 9");
  }
  ArtifactBuilder ab(kMaxT);
  makeSmall(ab);
  ArtifactBuilder::Options o;
  o.formatVersion = 2;
  EXPECT_LOAD_ERROR(ab.build(o), MOERT_UNSUPPORTED, "format version 2");
}

TEST(LoaderHeader, HeaderSize) {
  Bytes b = small();
  moert::FileHeader h = header(b);
  h.header_size = 64;
  setHeader(b, h);
  rehash(b);
  EXPECT_LOAD_ERROR(b, MOERT_INVALID_ARTIFACT, "header_size is 64, expected 128");
}

TEST(LoaderHeader, HeaderChecksum) {
  Bytes b = small();
  b[120] ^= 0x10; // the checksum itself
  EXPECT_LOAD_ERROR(b, MOERT_INVALID_ARTIFACT, "header checksum mismatch");
  Bytes c = small();
  c[40] ^= 0x01; // blob_offset, not rehashed
  EXPECT_LOAD_ERROR(c, MOERT_INVALID_ARTIFACT, "header checksum mismatch");
}

TEST(LoaderHeader, FileSize) {
  Bytes b = small();
  moert::FileHeader h = header(b);
  h.file_size += 64;
  setHeader(b, h);
  rehash(b);
  EXPECT_LOAD_ERROR(b, MOERT_INVALID_ARTIFACT,
                    "file_size = " + std::to_string(h.file_size) + ", but the artifact is " +
                        std::to_string(b.size()) + " bytes");
}

TEST(LoaderHeader, TableOffset) {
  Bytes b = small();
  moert::FileHeader h = header(b);
  h.table_offset = 256;
  setHeader(b, h);
  rehash(b);
  EXPECT_LOAD_ERROR(b, MOERT_INVALID_ARTIFACT,
                    "table_offset is 256, expected 128 + blob_size = " +
                        std::to_string(128 + h.blob_size));
}

TEST(LoaderHeader, TableSizePastTheEnd) {
  Bytes b = small();
  moert::FileHeader h = header(b);
  h.table_size = b.size();
  setHeader(b, h);
  h.header_checksum = moert::checksum64(b.data(), 120);
  setHeader(b, h);
  EXPECT_LOAD_ERROR(b, MOERT_INVALID_ARTIFACT, "runs past the end");
  h.table_size = ~uint64_t(0) - 50; // table_offset + table_size overflows
  setHeader(b, h);
  h.header_checksum = moert::checksum64(b.data(), 120);
  setHeader(b, h);
  EXPECT_LOAD_ERROR(b, MOERT_INVALID_ARTIFACT, "runs past the end");
}

TEST(LoaderHeader, BlobOffset) {
  Bytes b = small();
  moert::FileHeader h = header(b);
  h.blob_offset += 64;
  h.blob_size -= 64;
  setHeader(b, h);
  rehash(b);
  EXPECT_LOAD_ERROR(b, MOERT_INVALID_ARTIFACT, "blob_offset is 192, expected 128");
}

TEST(LoaderHeader, BlobSize) {
  Bytes b = small();
  moert::FileHeader h = header(b);
  h.blob_size -= 1;
  setHeader(b, h);
  rehash(b);
  EXPECT_LOAD_ERROR(b, MOERT_INVALID_ARTIFACT, "is not a multiple of 64");
  h.blob_size -= 63;
  setHeader(b, h);
  rehash(b);
  EXPECT_LOAD_ERROR(b, MOERT_INVALID_ARTIFACT, "expected 128 + blob_size");
  h.blob_size = b.size() / 64 * 64 + 64;
  setHeader(b, h);
  rehash(b);
  EXPECT_LOAD_ERROR(b, MOERT_INVALID_ARTIFACT, "blob_size " + std::to_string(h.blob_size) +
                                                   " runs past the end");
}

TEST(LoaderHeader, ReservedWords) {
  for (int i = 0; i < 5; ++i) {
    Bytes b = small();
    moert::FileHeader h = header(b);
    h.reserved[i] = 1;
    setHeader(b, h);
    rehash(b);
    EXPECT_LOAD_ERROR(b, MOERT_INVALID_ARTIFACT,
                      "reserved header word " + std::to_string(i) + " is 1");
  }
}

// --- 2. section checksums --------------------------------------------------------

TEST(LoaderChecksums, TableThenBlobs) {
  Bytes b = small();
  moert::FileHeader h = header(b);
  Bytes t = b;
  t[h.table_offset + h.table_size / 2] ^= 0x04;
  EXPECT_LOAD_ERROR(t, MOERT_INVALID_ARTIFACT, "table checksum mismatch");
  Bytes w = b;
  w[h.blob_offset + 4] ^= 0x04; // the first weight
  EXPECT_LOAD_ERROR(w, MOERT_INVALID_ARTIFACT,
                    "weight 0 ('w'): checksum mismatch in its bytes [0, 256)");
  // The code object comes last in the blob section.
  const fb::Model *m = fb::GetModel(b.data() + h.table_offset);
  uint64_t codeEnd = h.blob_offset + m->code_objects()->Get(0)->offset() +
                     m->code_objects()->Get(0)->bytes();
  Bytes c = b;
  c[codeEnd - 1] ^= 0x04;
  EXPECT_LOAD_ERROR(c, MOERT_INVALID_ARTIFACT, "code object 0: checksum mismatch");
  // The padding after weight 1 ('bias', 32 bytes) and before the table.
  Bytes p = b;
  p[h.blob_offset + m->weights()->Get(1)->offset() + 40] ^= 0x04;
  EXPECT_LOAD_ERROR(p, MOERT_INVALID_ARTIFACT, "lies between blobs and is not zero");
  if (codeEnd < h.table_offset) {
    Bytes q = b;
    q[h.table_offset - 1] ^= 0x04;
    EXPECT_LOAD_ERROR(q, MOERT_INVALID_ARTIFACT, "lies between blobs and is not zero");
  }
  // Both corrupted: the table is checked first.
  t[h.blob_offset + 4] ^= 0x04;
  EXPECT_LOAD_ERROR(t, MOERT_INVALID_ARTIFACT, "table checksum mismatch");
}

// --- 3. the FlatBuffers verifier --------------------------------------------------

TEST(LoaderVerifier, Identifier) {
  Bytes b = small();
  std::memcpy(b.data() + header(b).table_offset + 4, "MOEX", 4);
  rehash(b);
  EXPECT_LOAD_ERROR(b, MOERT_INVALID_ARTIFACT, "identifier is not \"MOEB\"");
}

TEST(LoaderVerifier, MalformedTable) {
  Bytes b = small();
  uint32_t root = 0x7FFFFFF0; // the root offset points far outside the table
  std::memcpy(b.data() + header(b).table_offset, &root, 4);
  rehash(b);
  EXPECT_LOAD_ERROR(b, MOERT_INVALID_ARTIFACT, "fails FlatBuffers verification");
}

TEST(LoaderVerifier, TinyTable) {
  // A header whose table is 4 bytes long.
  Bytes b(128 + 4, 0);
  moert::FileHeader h{};
  std::memcpy(h.magic, moert::kMagic, 8);
  h.format_version = moert::kFormatVersion;
  h.header_size = 128;
  h.table_offset = 128;
  h.table_size = 4;
  h.blob_offset = 128;
  h.blob_size = 0;
  h.file_size = 132;
  setHeader(b, h);
  rehash(b);
  EXPECT_LOAD_ERROR(b, MOERT_INVALID_ARTIFACT, "too small for a FlatBuffers table");
}

// Random corruption of the table with recomputed checksums: whatever the
// verifier and the semantic checks make of it, loading never crashes and
// never reads out of bounds (run under ASan to see the latter).
TEST(LoaderVerifier, RandomTableCorruptionNeverCrashes) {
  Bytes good = small();
  moert::FileHeader h = header(good);
  std::mt19937 rng(seed(42));
  int loaded = 0;
  for (int iter = 0, n = iterations(3000); iter < n; ++iter) {
    Bytes b = good;
    int edits = 1 + iter % 4;
    for (int e = 0; e < edits; ++e) {
      size_t at = h.table_offset + rng() % h.table_size;
      b[at] = static_cast<uint8_t>(rng());
    }
    rehash(b);
    moert::Status s = loadStatus(b);
    if (s.ok())
      ++loaded;
    else
      ASSERT_FALSE(s.message().empty());
  }
  // Most single-byte edits hit names or values that still verify; the point is
  // that none of them crashed.
  SUCCEED() << loaded << " corrupted tables still loaded";
}

// --- 4. semantic bounds -----------------------------------------------------------

TEST(LoaderSemantic, OtherTarget) {
  // A cuda artifact must carry PTX or a cubin, not a host shared object.
  Bytes b = mutated([](ArtifactBuilder &a) { a.model.target = fb::Target::Cuda; });
  EXPECT_LOAD_ERROR(b, MOERT_INVALID_ARTIFACT,
                    "code object 0: format HostSharedObject (0) cannot run on the cuda "
                    "target (expected Ptx or Cubin)");
  Bytes c = mutated([](ArtifactBuilder &a) { a.model.target = static_cast<fb::Target>(9); });
  EXPECT_LOAD_ERROR(c, MOERT_UNSUPPORTED,
                    "the artifact is for target 9, which this runtime does not know "
                    "(backends: cpu,cuda)");
  // And a cpu artifact cannot carry GPU code.
  Bytes d = mutated([](ArtifactBuilder &a) { a.model.code_objects[0]->format = fb::CodeFormat::Ptx; });
  EXPECT_LOAD_ERROR(d, MOERT_INVALID_ARTIFACT,
                    "format Ptx (1) cannot run on the cpu target (expected HostSharedObject)");
}

namespace {

/// forward(x [T, 8]) -> y [T, 40] = x · Wᵀ with W (weight 0) f32 [40, 8] in
/// panels (Panels32), then `mutate` on the table.
Bytes panelArtifact(const std::function<void(ArtifactBuilder &)> &mutate = {}) {
  ArtifactBuilder b(kMaxT);
  b.addWeightPanels("w", {40, 8}, randomFloats(320, 4));
  b.addWeightF32("bias", {8}, randomFloats(8, 2));
  FunctionBuilder f = b.function("forward");
  uint32_t x = f.buffer(32, 0), y = f.buffer(160, 0);
  f.input("x", fb::DType::F32, {-1, 8}, x);
  f.output("y", fb::DType::F32, {-1, 40}, y);
  f.gemm(buf(x), wt(0), buf(y), aff(1, 0), 40, 8);
  if (mutate)
    mutate(b);
  return b.build();
}

} // namespace

TEST(LoaderSemantic, WeightsInPanels) {
  EXPECT_TRUE(loadStatus(panelArtifact()).ok());
  EXPECT_LOAD_ERROR(panelArtifact([](ArtifactBuilder &a) {
                      a.model.weights[0]->layout = fb::WeightLayout::Panels32;
                      a.model.weights[1]->layout = fb::WeightLayout::Panels32;
                    }),
                    MOERT_INVALID_ARTIFACT,
                    "weight 1 ('bias'): layout Panels32 needs an f32, bf16, f16, f8e4m3, mxfp4, int8 or int4 weight of rank >= 2, got f32 [8]");
  EXPECT_LOAD_ERROR(panelArtifact([](ArtifactBuilder &a) {
                      a.model.weights[0]->dtype = fb::DType::I32;
                    }),
                    MOERT_INVALID_ARTIFACT,
                    "weight 0 ('w'): layout Panels32 needs an f32, bf16, f16, f8e4m3, mxfp4, int8 or int4 weight of rank >= 2, got i32 [40, 8]");
  // bf16 panels hold pairs of k: 64 x 8 x 2 bytes, not the 2048 of f32.
  EXPECT_LOAD_ERROR(panelArtifact([](ArtifactBuilder &a) {
                      a.model.weights[0]->dtype = fb::DType::BF16;
                    }),
                    MOERT_INVALID_ARTIFACT,
                    "weight 0 ('w'): bytes is 2048, but bf16 [40, 8] in panels is 1024 bytes");
  // f16 panels have depth 1 (k values, not pairs): with an odd k they are
  // smaller than bf16's.
  EXPECT_LOAD_ERROR(panelArtifact([](ArtifactBuilder &a) {
                      a.model.weights[0]->dtype = fb::DType::F16;
                    }),
                    MOERT_INVALID_ARTIFACT,
                    "weight 0 ('w'): bytes is 2048, but f16 [40, 8] in panels is 1024 bytes");
  EXPECT_LOAD_ERROR(panelArtifact([](ArtifactBuilder &a) {
                      a.model.weights[0]->dtype = fb::DType::F16;
                      a.model.weights[0]->shape = {40, 7};
                    }),
                    MOERT_INVALID_ARTIFACT,
                    "weight 0 ('w'): bytes is 2048, but f16 [40, 7] in panels is 896 bytes");
  EXPECT_LOAD_ERROR(panelArtifact([](ArtifactBuilder &a) {
                      a.model.weights[0]->dtype = fb::DType::BF16;
                      a.model.weights[0]->shape = {40, 7};
                    }),
                    MOERT_INVALID_ARTIFACT,
                    "weight 0 ('w'): bytes is 2048, but bf16 [40, 7] in panels is 1024 bytes");
  EXPECT_LOAD_ERROR(panelArtifact([](ArtifactBuilder &a) {
                      // The bytes of [40, 8] in panels (2 x 32 x 8), not
                      // those of [33, 16] (2 x 32 x 16).
                      a.model.weights[0]->shape = {33, 16};
                    }),
                    MOERT_INVALID_ARTIFACT,
                    "weight 0 ('w'): bytes is 2048, but f32 [33, 16] in panels is 4096 bytes");
  EXPECT_LOAD_ERROR(panelArtifact([](ArtifactBuilder &a) {
                      a.model.weights[0]->layout = static_cast<fb::WeightLayout>(7);
                    }),
                    MOERT_INVALID_ARTIFACT, "weight 0 ('w'): unknown layout 7");
  EXPECT_LOAD_ERROR(panelArtifact([](ArtifactBuilder &a) { a.model.target = fb::Target::Cuda; }),
                    MOERT_INVALID_ARTIFACT,
                    "weight 0 ('w'): layout Panels32 is the CPU target's, not this artifact's");
  // The panels' order depends on n and k: the Gemm must multiply by [40, 8].
  EXPECT_LOAD_ERROR(panelArtifact([](ArtifactBuilder &a) {
                      auto *g = static_cast<fb::GemmT *>(
                          a.model.functions[0]->commands[0]->command.value);
                      g->n = 32;
                    }),
                    MOERT_INVALID_ARTIFACT,
                    "operand b (weight 0 'w') is in panels of [40, 8] matrices, but the "
                    "command multiplies by [32, 8]");
  // Only a GEMM's B reads panels.
  EXPECT_LOAD_ERROR(panelArtifact([](ArtifactBuilder &a) {
                      FunctionBuilder f(a.model, *a.model.functions[0]);
                      f.copy(wt(0), buf(1), aff(0, 64));
                    }),
                    MOERT_INVALID_ARTIFACT,
                    "command 1 (Copy): operand src: weight 0 ('w') is in panels (Panels32), "
                    "which only a Gemm's or GroupedGemm's operand b reads");
  EXPECT_LOAD_ERROR(panelArtifact([](ArtifactBuilder &a) {
                      auto *g = static_cast<fb::GemmT *>(
                          a.model.functions[0]->commands[0]->command.value);
                      *g->a = wt(0);
                    }),
                    MOERT_INVALID_ARTIFACT, "operand a: weight 0 ('w') is in panels");
}

TEST(LoaderSemantic, CudaCodeObjects) {
  auto cuda = [](fb::CodeFormat format) {
    return [format](ArtifactBuilder &a) {
      a.model.target = fb::Target::Cuda;
      a.model.code_objects[0]->format = format;
      a.model.code_objects[0]->arch = "sm_90";
    };
  };
  // The test's code object is an ELF image: a valid-looking cubin, but PTX
  // text must not contain NUL bytes.
  moert::Status ok = loadStatus(mutated(cuda(fb::CodeFormat::Cubin)));
  EXPECT_TRUE(ok.ok()) << ok.message();
  EXPECT_LOAD_ERROR(mutated(cuda(fb::CodeFormat::Ptx)), MOERT_INVALID_ARTIFACT,
                    "code object 0: PTX text is empty or contains NUL");
  Bytes notElf = mutated(
      [&](ArtifactBuilder &a) {
        cuda(fb::CodeFormat::Cubin)(a);
        a.model.code_objects[0]->bytes = 2;
      },
      /*keepOffsets=*/true);
  EXPECT_LOAD_ERROR(notElf, MOERT_INVALID_ARTIFACT,
                    "code object 0: a cubin must be an ELF image");
  for (uint32_t bad : {7u, 16u, 96u, 2048u}) {
    Bytes lanes = mutated([&](ArtifactBuilder &a) {
      cuda(fb::CodeFormat::Cubin)(a);
      a.model.kernels[0]->lanes = bad;
    });
    EXPECT_LOAD_ERROR(lanes, MOERT_INVALID_ARTIFACT,
                      "lanes is " + std::to_string(bad) +
                          ", expected 1 or a power of two from 32 to 1024");
  }
  for (uint32_t good : {1u, 32u, 256u, 1024u}) {
    Bytes lanes = mutated([&](ArtifactBuilder &a) {
      cuda(fb::CodeFormat::Cubin)(a);
      a.model.kernels[0]->lanes = good;
    });
    moert::Status s = loadStatus(lanes);
    EXPECT_TRUE(s.ok()) << good << ": " << s.message();
  }
}

TEST(LoaderSemantic, MaxTokens) {
  for (int64_t t : {0, -5}) {
    Bytes b = mutated([&](ArtifactBuilder &a) { a.model.max_tokens = t; });
    EXPECT_LOAD_ERROR(b, MOERT_INVALID_ARTIFACT,
                      "max_tokens is " + std::to_string(t) + ", expected >= 1");
  }
}

TEST(LoaderSemantic, WeightOutsideTheBlob) {
  Bytes b = mutated([](ArtifactBuilder &a) { a.model.weights[1]->offset = 1 << 20; }, true);
  EXPECT_LOAD_ERROR(b, MOERT_INVALID_ARTIFACT, "weight 1 ('bias'): bytes [1048576");
  EXPECT_LOAD_ERROR(b, MOERT_INVALID_ARTIFACT, "outside the");
  Bytes c = mutated([](ArtifactBuilder &a) {
    a.model.weights[0]->offset = std::numeric_limits<uint64_t>::max() - 63;
  }, true);
  EXPECT_LOAD_ERROR(c, MOERT_INVALID_ARTIFACT, "weight 0 ('w'): bytes [");
  Bytes d = mutated([](ArtifactBuilder &a) { a.model.weights[3]->bytes += 1 << 20; }, true);
  EXPECT_LOAD_ERROR(d, MOERT_INVALID_ARTIFACT, "weight 3 ('offs'): bytes [");
}

TEST(LoaderSemantic, WeightAlignment) {
  Bytes b = mutated([](ArtifactBuilder &a) { a.model.weights[1]->offset += 4; }, true);
  EXPECT_LOAD_ERROR(b, MOERT_INVALID_ARTIFACT, "is not a multiple of 64");
}

TEST(LoaderSemantic, WeightBytesMatchDTypeAndShape) {
  Bytes b = mutated([](ArtifactBuilder &a) { a.model.weights[0]->shape = {8, 7}; });
  EXPECT_LOAD_ERROR(b, MOERT_INVALID_ARTIFACT,
                    "weight 0 ('w'): bytes is 256, but f32 [8, 7] is 224 bytes");
  Bytes c = mutated([](ArtifactBuilder &a) { a.model.weights[0]->dtype = fb::DType::F16; });
  EXPECT_LOAD_ERROR(c, MOERT_INVALID_ARTIFACT, "but f16 [8, 8] is 128 bytes");
  Bytes d = mutated([](ArtifactBuilder &a) { a.model.weights[0]->dtype = static_cast<fb::DType>(9); });
  EXPECT_LOAD_ERROR(d, MOERT_INVALID_ARTIFACT, "weight 0 ('w'): unknown dtype 9");
  Bytes e = mutated([](ArtifactBuilder &a) { a.model.weights[0]->shape = {-1, 8}; });
  EXPECT_LOAD_ERROR(e, MOERT_INVALID_ARTIFACT, "dimension 0 is -1");
  Bytes f = mutated([](ArtifactBuilder &a) {
    a.model.weights[0]->shape = {1 << 30, 1 << 30, 1 << 30};
  });
  EXPECT_LOAD_ERROR(f, MOERT_INVALID_ARTIFACT, "weight 0 ('w'): f32 [1073741824, 1073741824, 1073741824] is too large");
}

TEST(LoaderSemantic, RandomUniformWeights) {
  // A synthetic weight carries no bytes: offset and bytes must be 0.
  Bytes b = mutated([](ArtifactBuilder &a) {
    a.model.weights[0]->init = fb::WeightInit::RandomUniform;
  }, true);
  EXPECT_LOAD_ERROR(b, MOERT_INVALID_ARTIFACT,
                    "weight 0 ('w'): a RandomUniform weight has no bytes in the blob section");
  Bytes c = mutated([](ArtifactBuilder &a) {
    a.model.weights[3]->init = fb::WeightInit::RandomUniform;
    a.model.weights[3]->offset = a.model.weights[3]->bytes = 0;
  }, true);
  EXPECT_LOAD_ERROR(c, MOERT_INVALID_ARTIFACT,
                    "weight 3 ('offs'): a RandomUniform weight is f32, bf16, f16, f8e4m3, mxfp4, int8 or int4, got i32");
  // A dtype byte that is no moert_dtype_t is named by its number (found by
  // fuzz_artifact: it was cast to the enum for its name).
  Bytes c2 = mutated([](ArtifactBuilder &a) {
    a.model.weights[3]->init = fb::WeightInit::RandomUniform;
    a.model.weights[3]->offset = a.model.weights[3]->bytes = 0;
    a.model.weights[3]->dtype = static_cast<fb::DType>(251);
  }, true);
  EXPECT_LOAD_ERROR(c2, MOERT_INVALID_ARTIFACT, "weight 3 ('offs'): unknown dtype 251");
  Bytes d = mutated([](ArtifactBuilder &a) {
    a.model.weights[0]->init = static_cast<fb::WeightInit>(7);
  });
  EXPECT_LOAD_ERROR(d, MOERT_INVALID_ARTIFACT, "weight 0 ('w'): unknown init 7");
  Bytes e = mutated([](ArtifactBuilder &a) {
    a.model.weights[0]->init = fb::WeightInit::RandomUniform;
    a.model.weights[0]->offset = a.model.weights[0]->bytes = 0;
    a.model.weights[0]->checksums.clear();
    a.model.weights[0]->shape = {1 << 20, 1 << 20}; // 4 TiB
  }, true);
  EXPECT_LOAD_ERROR(e, MOERT_OUT_OF_MEMORY, "synthetic weights need 4398046511104 bytes, more than");
  // A weight stacked from two synthetic ones splits its rows between two
  // seeds (Weight.seed_split): only a synthetic weight, at 0 < split < n.
  Bytes g = mutated([](ArtifactBuilder &a) { a.model.weights[0]->seed_split = 2; });
  EXPECT_LOAD_ERROR(g, MOERT_INVALID_ARTIFACT,
                    "weight 0 ('w'): seed_split is 2, but f32 [");
  EXPECT_LOAD_ERROR(g, MOERT_INVALID_ARTIFACT, " (not synthetic) does not split its rows there");
  for (int64_t split : {int64_t(-1), int64_t(1) << 40}) {
    Bytes h = mutated([split](ArtifactBuilder &a) {
      a.model.weights[0]->init = fb::WeightInit::RandomUniform;
      a.model.weights[0]->offset = a.model.weights[0]->bytes = 0;
      a.model.weights[0]->checksums.clear();
      a.model.weights[0]->seed_split = split;
    }, true);
    EXPECT_LOAD_ERROR(h, MOERT_INVALID_ARTIFACT,
                      "seed_split is " + std::to_string(split) + ", but f32 [");
    EXPECT_LOAD_ERROR(h, MOERT_INVALID_ARTIFACT, "splits them at 0 < seed_split < n");
  }
  // A valid split in an artifact that claims a format before 8 (whose
  // runtimes would generate every row from `seed`).
  ArtifactBuilder ab(kMaxT);
  makeSmall(ab);
  ab.build();
  ab.model.weights[0]->init = fb::WeightInit::RandomUniform;
  ab.model.weights[0]->offset = ab.model.weights[0]->bytes = 0;
  ab.model.weights[0]->checksums.clear();
  ab.model.weights[0]->seed_split = 1;
  ArtifactBuilder::Options o;
  o.keepOffsets = true;
  o.formatVersion = moert::kSeedSplitFormatVersion - 1;
  EXPECT_LOAD_ERROR(ab.build(o), MOERT_INVALID_ARTIFACT,
                    "weight 0 ('w'): seed_split is 1 in an artifact of format version 7; it needs 8");
}

TEST(LoaderSemantic, CodeObjects) {
  Bytes b = mutated([](ArtifactBuilder &a) { a.model.code_objects[0]->bytes += 1 << 24; }, true);
  EXPECT_LOAD_ERROR(b, MOERT_INVALID_ARTIFACT, "code object 0: bytes [");
  Bytes c = mutated([](ArtifactBuilder &a) { a.model.code_objects[0]->offset -= 8; }, true);
  EXPECT_LOAD_ERROR(c, MOERT_INVALID_ARTIFACT, "code object 0: offset");
  Bytes d = mutated([](ArtifactBuilder &a) { a.model.code_objects[0]->format = fb::CodeFormat::Ptx; });
  EXPECT_LOAD_ERROR(d, MOERT_INVALID_ARTIFACT, "code object 0: format Ptx");
  Bytes e = mutated([](ArtifactBuilder &a) { a.addCodeObject(Bytes(256, 0x42)); });
  EXPECT_LOAD_ERROR(e, MOERT_INVALID_ARTIFACT, "code object 1 is not an ELF object");
  Bytes elf32 = testKernelsObject();
  elf32[4] = 1; // ELFCLASS32
  Bytes f = mutated([&](ArtifactBuilder &a) { a.addCodeObject(elf32); });
  EXPECT_LOAD_ERROR(f, MOERT_INVALID_ARTIFACT, "not a 64-bit little-endian ELF");
  Bytes arm = testKernelsObject();
  arm[18] = 183; // EM_AARCH64
  arm[19] = 0;
  Bytes g = mutated([&](ArtifactBuilder &a) { a.addCodeObject(arm); });
  EXPECT_LOAD_ERROR(g, MOERT_INVALID_ARTIFACT, "not an x86-64 ELF object (e_machine 183)");
}

TEST(LoaderSemantic, KernelsNameExistingCodeObjects) {
  Bytes b = mutated([](ArtifactBuilder &a) { a.model.kernels[0]->code_object = 5; });
  EXPECT_LOAD_ERROR(b, MOERT_INVALID_ARTIFACT,
                    "kernel 0 ('moert_test_add_bias8'): code object 5 does not exist");
  Bytes c = mutated([](ArtifactBuilder &a) { a.model.kernels[0]->name = ""; });
  EXPECT_LOAD_ERROR(c, MOERT_INVALID_ARTIFACT, "symbol name is empty");
}

TEST(LoaderSemantic, BuffersLieInsideTheArena) {
  Bytes b = mutated([](ArtifactBuilder &a) { fn(a).arena_bytes -= 1; });
  EXPECT_LOAD_ERROR(b, MOERT_INVALID_ARTIFACT, "function 'forward': buffer 4: arena bytes [");
  EXPECT_LOAD_ERROR(b, MOERT_INVALID_ARTIFACT, "at max_tokens = 8 exceed arena_bytes");
  Bytes c = mutated([](ArtifactBuilder &a) { fn(a).buffers[1]->offset = ~uint64_t(0) - 63; });
  EXPECT_LOAD_ERROR(c, MOERT_INVALID_ARTIFACT, "buffer 1: arena bytes [");
  Bytes d = mutated([](ArtifactBuilder &a) { fn(a).buffers[1]->offset += 4; });
  EXPECT_LOAD_ERROR(d, MOERT_INVALID_ARTIFACT, "buffer 1: offset");
  EXPECT_LOAD_ERROR(d, MOERT_INVALID_ARTIFACT, "is not a multiple of 64");
}

TEST(LoaderSemantic, RunParamsAreAFixedBufferOfTheFunction) {
  Bytes b = mutated([](ArtifactBuilder &a) { fn(a).run_params = 99; });
  EXPECT_LOAD_ERROR(b, MOERT_INVALID_ARTIFACT,
                    "function 'forward': run_params: buffer 99 is out of range");
  Bytes c = mutated([](ArtifactBuilder &a) { fn(a).run_params = -2; });
  EXPECT_LOAD_ERROR(c, MOERT_INVALID_ARTIFACT, "run_params: buffer -2 is out of range");
  Bytes d = mutated([](ArtifactBuilder &a) { addRunParams(fn(a), 8); });
  EXPECT_LOAD_ERROR(d, MOERT_INVALID_ARTIFACT, "holds 0 * T + 8 bytes, not a fixed 16 or more");
  Bytes e = mutated([](ArtifactBuilder &a) { addRunParams(fn(a), 16); });
  moert::Model m = mustLoad(e);
  moert::Session s = mustSession(m);
  EXPECT_TRUE(s.setRouterNoise(true, 42));
}

TEST(LoaderSemantic, BufferSizesAreNonNegativeAndNonDecreasing) {
  Bytes b = mutated([](ArtifactBuilder &a) { *fn(a).buffers[2]->bytes = fb::Affine(-32, 512); });
  EXPECT_LOAD_ERROR(b, MOERT_INVALID_ARTIFACT, "buffer 2: bytes (-32 * T + 512) decreases");
  Bytes c = mutated([](ArtifactBuilder &a) { *fn(a).buffers[2]->bytes = fb::Affine(0, -1); });
  EXPECT_LOAD_ERROR(c, MOERT_INVALID_ARTIFACT, "buffer 2: bytes (0 * T + -1) is negative");
  Bytes d = mutated([](ArtifactBuilder &a) {
    *fn(a).buffers[2]->bytes = fb::Affine(std::numeric_limits<int64_t>::max() / 4, 0);
  });
  EXPECT_LOAD_ERROR(d, MOERT_INVALID_ARTIFACT, "overflows at max_tokens = 8");
}

TEST(LoaderSemantic, RefsIndexExistingBuffersAndWeights) {
  Bytes b = mutated([](ArtifactBuilder &a) { *cmd<fb::GemmT>(a, 0)->a = buf(99); });
  EXPECT_LOAD_ERROR(b, MOERT_INVALID_ARTIFACT,
                    "function 'forward': command 0 (Gemm): operand a: buffer 99 does not exist");
  Bytes c = mutated([](ArtifactBuilder &a) { *cmd<fb::GemmT>(a, 0)->b = wt(4); });
  EXPECT_LOAD_ERROR(c, MOERT_INVALID_ARTIFACT,
                    "command 0 (Gemm): operand b: weight 4 does not exist (the artifact has 4 weights)");
  Bytes d = mutated([](ArtifactBuilder &a) { cmd<fb::LaunchT>(a, 1)->args[2] = buf(5); });
  EXPECT_LOAD_ERROR(d, MOERT_INVALID_ARTIFACT, "command 1 (Launch): argument 2: buffer 5 does not exist");
  Bytes e = mutated([](ArtifactBuilder &a) { *cmd<fb::CopyT>(a, 2)->src = wt(1000); });
  EXPECT_LOAD_ERROR(e, MOERT_INVALID_ARTIFACT, "command 2 (Copy): operand src: weight 1000");
  Bytes f = mutated([](ArtifactBuilder &a) {
    *cmd<fb::GroupedGemmT>(a, 3)->offsets = fb::Ref(static_cast<fb::RefKind>(7), 0);
  });
  EXPECT_LOAD_ERROR(f, MOERT_INVALID_ARTIFACT, "operand offsets: unknown operand kind 7");
  Bytes g = mutated([](ArtifactBuilder &a) { cmd<fb::GemmT>(a, 0)->c.reset(); });
  EXPECT_LOAD_ERROR(g, MOERT_INVALID_ARTIFACT, "command 0 (Gemm): operand c is missing");
}

TEST(LoaderSemantic, GemmOperandSizes) {
  Bytes b = mutated([](ArtifactBuilder &a) { cmd<fb::GemmT>(a, 0)->k = 16; });
  EXPECT_LOAD_ERROR(b, MOERT_INVALID_ARTIFACT,
                    "command 0 (Gemm): operand a (buffer 0) holds 32 bytes at T = 1, but f32 [rows, k] needs 64");
  Bytes c = mutated([](ArtifactBuilder &a) { *cmd<fb::GemmT>(a, 0)->rows = fb::Affine(2, 0); });
  EXPECT_LOAD_ERROR(c, MOERT_INVALID_ARTIFACT, "operand a (buffer 0) holds 32 bytes at T = 1");
  Bytes d = mutated([](ArtifactBuilder &a) { *cmd<fb::GemmT>(a, 0)->rows = fb::Affine(1, 1); });
  EXPECT_LOAD_ERROR(d, MOERT_INVALID_ARTIFACT, "holds 32 bytes at T = 1, but f32 [rows, k] needs 64");
  Bytes e = mutated([](ArtifactBuilder &a) { cmd<fb::GemmT>(a, 0)->n = 9; });
  EXPECT_LOAD_ERROR(e, MOERT_INVALID_ARTIFACT, "operand b (weight 0 'w') holds 256 bytes, but f32 [n, k] needs 288");
  Bytes f = mutated([](ArtifactBuilder &a) { cmd<fb::GemmT>(a, 0)->n = 0; });
  EXPECT_LOAD_ERROR(f, MOERT_INVALID_ARTIFACT, "command 0 (Gemm): n is 0");
  Bytes g = mutated([](ArtifactBuilder &a) { cmd<fb::GemmT>(a, 0)->k = int64_t(1) << 40; });
  EXPECT_LOAD_ERROR(g, MOERT_INVALID_ARTIFACT, "k is 1099511627776");
  // Holding an operand at max_tokens is not enough: x of 64·T − 40 bytes
  // holds rows × k f32 at T = 8 (472 >= 256) but not at T = 1 (24 < 32).
  Bytes t1 = mutated([](ArtifactBuilder &a) {
    *fn(a).buffers[0]->bytes = fb::Affine(64, -40);
    fn(a).arena_bytes += 1024;
  });
  EXPECT_LOAD_ERROR(t1, MOERT_INVALID_ARTIFACT,
                    "command 0 (Gemm): operand a (buffer 0) holds 24 bytes at T = 1, but f32 [rows, k] needs 32");
  Bytes h = mutated([](ArtifactBuilder &a) { *cmd<fb::GemmT>(a, 0)->rows = fb::Affine(-1, 0); });
  EXPECT_LOAD_ERROR(h, MOERT_INVALID_ARTIFACT, "rows (-1 * T + 0) is negative");
}

TEST(LoaderSemantic, GemmWritesABufferOfF32WithoutAliasing) {
  Bytes b = mutated([](ArtifactBuilder &a) { *cmd<fb::GemmT>(a, 0)->c = wt(0); });
  EXPECT_LOAD_ERROR(b, MOERT_INVALID_ARTIFACT, "operand c is weight 0: weights are read-only");
  Bytes c = mutated([](ArtifactBuilder &a) { *cmd<fb::GemmT>(a, 0)->b = wt(3); });
  EXPECT_LOAD_ERROR(c, MOERT_INVALID_ARTIFACT, "operand b (weight 3 'offs') is i32, expected f32");
  Bytes d = mutated([](ArtifactBuilder &a) { *cmd<fb::GemmT>(a, 0)->c = buf(0); });
  EXPECT_LOAD_ERROR(d, MOERT_INVALID_ARTIFACT, "operand c (buffer 0, arena [0, 256)) overlaps operand a");
  // Another buffer placed over A's bytes overlaps too.
  Bytes e = mutated([](ArtifactBuilder &a) {
    FunctionBuilder f(a.model, fn(a));
    uint32_t alias = f.bufferAt(64, 32, 0);
    *cmd<fb::GemmT>(a, 0)->c = buf(alias);
  });
  EXPECT_LOAD_ERROR(e, MOERT_INVALID_ARTIFACT, "overlaps operand a");
}

TEST(LoaderSemantic, GemmDTypes) {
  // B is a weight of the command's dtype; A's bytes are counted in it.
  Bytes b = mutated([](ArtifactBuilder &a) { cmd<fb::GemmT>(a, 0)->dtype = fb::DType::BF16; });
  EXPECT_LOAD_ERROR(b, MOERT_INVALID_ARTIFACT,
                    "command 0 (Gemm): operand b (weight 0 'w') is f32, expected bf16");
  Bytes c = mutated([](ArtifactBuilder &a) { cmd<fb::GemmT>(a, 0)->dtype = fb::DType::I32; });
  EXPECT_LOAD_ERROR(c, MOERT_INVALID_ARTIFACT,
                    "command 0 (Gemm): dtype is i32 (3), expected f32, bf16, f16, f8e4m3, mxfp4, int8 or int4");
  Bytes d = mutated([](ArtifactBuilder &a) {
    cmd<fb::GroupedGemmT>(a, 3)->dtype = static_cast<fb::DType>(9);
  });
  EXPECT_LOAD_ERROR(d, MOERT_INVALID_ARTIFACT,
                    "command 3 (GroupedGemm): dtype is unknown (9), expected f32, bf16, f16, f8e4m3, mxfp4, int8 or int4");
  // f16 [8, 16] is f32 [8, 8]'s 256 bytes; x holds 32 bytes = 16 f16 per row.
  auto asF16 = [](ArtifactBuilder &a) {
    a.model.weights[0]->dtype = fb::DType::F16;
    a.model.weights[0]->shape = {8, 16};
    cmd<fb::GemmT>(a, 0)->dtype = fb::DType::F16;
    cmd<fb::GemmT>(a, 0)->k = 16;
  };
  Bytes e = mutated(asF16);
  EXPECT_TRUE(loadStatus(e)) << loadStatus(e).message();
  Bytes f = mutated([&](ArtifactBuilder &a) {
    asF16(a);
    *cmd<fb::GemmT>(a, 0)->rows = fb::Affine(2, 0);
  });
  EXPECT_LOAD_ERROR(f, MOERT_INVALID_ARTIFACT,
                    "operand a (buffer 0) holds 32 bytes at T = 1, but f16 [rows, k] needs 64");
}

// An fp8 grouped GEMM: B is an f8e4m3 weight [2, 8, 8] in panels (weight 4)
// with its scales [2, 1, 1] (weight 5); A and C f32.
void useFp8(ArtifactBuilder &a) {
  std::vector<uint8_t> codes(2 * moert::panelElements(8, 8), 0x38); // 1.0
  uint32_t w = a.addWeight("w8", fb::DType::F8E4M3, {2, 8, 8}, codes.data(), codes.size());
  a.model.weights[w]->layout = fb::WeightLayout::Panels32;
  uint32_t s = a.addWeightF32("w8_scale_inv", {2, 1, 1}, {0.5f, 2.0f});
  a.model.weights[w]->scales = static_cast<int32_t>(s);
  *cmd<fb::GroupedGemmT>(a, 3)->b = wt(w);
  cmd<fb::GroupedGemmT>(a, 3)->dtype = fb::DType::F8E4M3;
}

TEST(LoaderSemantic, Fp8WeightsAndTheirScales) {
  Bytes good = mutated(useFp8);
  EXPECT_TRUE(loadStatus(good)) << loadStatus(good).message();
  Bytes a = mutated([](ArtifactBuilder &b) { useFp8(b); b.model.weights[4]->scales = -1; });
  EXPECT_LOAD_ERROR(a, MOERT_INVALID_ARTIFACT,
                    "weight 4 ('w8'): an f8e4m3 weight needs its scales (Weight.scales)");
  Bytes c = mutated([](ArtifactBuilder &b) { useFp8(b); b.model.weights[0]->scales = 5; });
  EXPECT_LOAD_ERROR(c, MOERT_INVALID_ARTIFACT,
                    "weight 0 ('w'): only an f8e4m3 weight has scales (Weight.scales is 5)");
  Bytes d = mutated([](ArtifactBuilder &b) { useFp8(b); b.model.weights[4]->scales = 1; });
  EXPECT_LOAD_ERROR(d, MOERT_INVALID_ARTIFACT,
                    "weight 4 ('w8'): its scales (weight 1 'bias') must be an f32 row-major "
                    "weight [2, 1, 1] of no other weight");
  Bytes e = mutated([](ArtifactBuilder &b) { useFp8(b); b.model.weights[4]->scales = 4; });
  EXPECT_LOAD_ERROR(e, MOERT_INVALID_ARTIFACT,
                    "weight 4 ('w8'): its scales are weight 4, which does not exist or is itself");
  Bytes f = mutated([](ArtifactBuilder &b) {
    useFp8(b);
    b.model.weights[4]->layout = fb::WeightLayout::RowMajor;
  });
  EXPECT_LOAD_ERROR(f, MOERT_INVALID_ARTIFACT, "weight 4 ('w8'): bytes is 512, but f8e4m3 "
                                               "[2, 8, 8] is 128 bytes");
  // A GEMM of f32 weights cannot be relabelled fp8, nor a function's tensor.
  Bytes g = mutated([](ArtifactBuilder &b) {
    useFp8(b);
    cmd<fb::GemmT>(b, 0)->dtype = fb::DType::F8E4M3;
  });
  EXPECT_LOAD_ERROR(g, MOERT_INVALID_ARTIFACT,
                    "command 0 (Gemm): an f8e4m3 GEMM's operand b must be a weight in panels");
  Bytes h = mutated([](ArtifactBuilder &b) { fn(b).inputs[0]->dtype = fb::DType::F8E4M3; });
  EXPECT_LOAD_ERROR(h, MOERT_INVALID_ARTIFACT, "dtype f8e4m3 is for weights only");
}

// An artifact for the CUDA target (sm_90): its test code object taken for a
// cubin.
void useCudaTarget(ArtifactBuilder &a) {
  a.model.target = fb::Target::Cuda;
  a.model.code_objects[0]->format = fb::CodeFormat::Cubin;
  a.model.code_objects[0]->arch = "sm_90";
}

// fp8 on the CUDA target: B a row-major f8e4m3 weight [2, 8, 8] (weight 4)
// with its scales (weight 5), A bf16, and a dequant kernel (codes, scales,
// bf16 copy) over the n = 8 rows of a matrix.
void useFp8Cuda(ArtifactBuilder &a, uint32_t dequantArgs = 3, int64_t dequantRows = 8) {
  useCudaTarget(a);
  std::vector<uint8_t> codes(2 * 8 * 8, 0x38); // 1.0
  uint32_t w = a.addWeight("w8", fb::DType::F8E4M3, {2, 8, 8}, codes.data(), codes.size());
  uint32_t s = a.addWeightF32("w8_scale_inv", {2, 1, 1}, {0.5f, 2.0f});
  a.model.weights[w]->scales = static_cast<int32_t>(s);
  uint32_t k = a.testKernel("dequant_fp8_0", dequantArgs);
  // Writes its last buffer (the copy): one matrix's codes, its one block's
  // scale, the matrix as bf16.
  std::vector<uint64_t> bounds = {64, 4, 128};
  bounds.resize(dequantArgs, 128);
  a.setKernelBounds(k, dequantRows, uint64_t(1) << (dequantArgs - 1), bounds);
  auto *g = cmd<fb::GroupedGemmT>(a, 3);
  *g->b = wt(w);
  g->dtype = fb::DType::F8E4M3;
  g->dequant_kernel = static_cast<int32_t>(k);
}

// The artifact `use` makes, its grouped GEMM (command 3) given a gemv
// kernel `name` of `args` buffers and 32 lanes, used up to T = 4; with
// `argBytes`, the kernel's bounds are those and `writes`.
template <typename Use>
Bytes withGemvKernel(Use use, const char *name, uint32_t args, uint64_t writes = 0,
                     std::vector<uint64_t> argBytes = {}) {
  return mutated([=](ArtifactBuilder &b) {
    use(b);
    uint32_t k = b.testKernel(name, args);
    b.model.kernels[k]->lanes = 32;
    if (!argBytes.empty())
      b.setKernelBounds(k, 1 << 20, writes, argBytes);
    auto *g = cmd<fb::GroupedGemmT>(b, 3);
    g->gemv_kernel = static_cast<int32_t>(k);
    g->gemv_max_tokens = 4;
  });
}

TEST(LoaderSemantic, Fp8OnCuda) {
  Bytes good = mutated([](ArtifactBuilder &b) { useFp8Cuda(b); });
  EXPECT_TRUE(loadStatus(good)) << loadStatus(good).message();
  Bytes a = mutated([](ArtifactBuilder &b) {
    useFp8Cuda(b);
    cmd<fb::GroupedGemmT>(b, 3)->dequant_kernel = -1;
  });
  EXPECT_LOAD_ERROR(a, MOERT_INVALID_ARTIFACT,
                    "command 3 (GroupedGemm): dequant kernel -1, but an f8e4m3 GEMM on the "
                    "cuda target needs one");
  Bytes c = mutated([](ArtifactBuilder &b) {
    useFp8Cuda(b);
    cmd<fb::GroupedGemmT>(b, 3)->dequant_kernel = 7;
  });
  EXPECT_LOAD_ERROR(c, MOERT_INVALID_ARTIFACT,
                    "command 3 (GroupedGemm): dequant kernel 7 does not exist");
  EXPECT_LOAD_ERROR(mutated([](ArtifactBuilder &b) { useFp8Cuda(b, 2); }), MOERT_INVALID_ARTIFACT,
                    "dequant kernel 'dequant_fp8_0' takes 2 buffers over at most 8 rows, "
                    "expected 3 (codes, scales, copy) over 8");
  EXPECT_LOAD_ERROR(mutated([](ArtifactBuilder &b) { useFp8Cuda(b, 3, 4); }),
                    MOERT_INVALID_ARTIFACT, "takes 3 buffers over at most 4 rows");
  // In panels (the CPU's layout), or a dequant kernel on another GEMM.
  Bytes d = mutated([](ArtifactBuilder &b) {
    useFp8Cuda(b);
    b.model.weights[4]->layout = fb::WeightLayout::Panels32;
  });
  EXPECT_LOAD_ERROR(d, MOERT_INVALID_ARTIFACT, "layout Panels32 is the CPU target's");
  Bytes e = mutated([](ArtifactBuilder &b) {
    useFp8Cuda(b);
    cmd<fb::GemmT>(b, 0)->dequant_kernel = cmd<fb::GroupedGemmT>(b, 3)->dequant_kernel;
  });
  EXPECT_LOAD_ERROR(e, MOERT_INVALID_ARTIFACT,
                    "command 0 (Gemm): dequant kernel 1, but only an f8e4m3 or mxfp4 GEMM on "
                    "the cuda target has one");
  // A is bf16 there: [rows, k] of 2 bytes each.
  Bytes f = mutated([](ArtifactBuilder &b) {
    useFp8Cuda(b);
    FunctionBuilder fb(b.model, fn(b));
    *cmd<fb::GroupedGemmT>(b, 3)->a = buf(fb.buffer(15, 0));
  });
  EXPECT_LOAD_ERROR(f, MOERT_INVALID_ARTIFACT, "but bf16 [rows, k] needs 16");
  // The dequant kernel's bounds: one matrix's codes and scales, the copy
  // written and nothing else.
  auto bounds = [](std::vector<uint64_t> argBytes, uint64_t writes) {
    return mutated([=](ArtifactBuilder &b) {
      useFp8Cuda(b);
      b.setKernelBounds(static_cast<uint32_t>(cmd<fb::GroupedGemmT>(b, 3)->dequant_kernel), 8,
                        writes, argBytes);
    });
  };
  EXPECT_LOAD_ERROR(bounds({65, 4, 128}, 4), MOERT_INVALID_ARTIFACT,
                    "dequant kernel 'dequant_fp8_0' may touch 65 bytes through argument 0, but "
                    "one [8, 8] matrix gives it 64");
  EXPECT_LOAD_ERROR(bounds({64, 8, 128}, 4), MOERT_INVALID_ARTIFACT,
                    "may touch 8 bytes through argument 1, but one [8, 8] matrix gives it 4");
  EXPECT_LOAD_ERROR(bounds({64, 4, 256}, 4), MOERT_INVALID_ARTIFACT,
                    "may touch 256 bytes through argument 2, but one [8, 8] matrix gives it 128");
  EXPECT_LOAD_ERROR(bounds({64, 4, 128}, 5), MOERT_INVALID_ARTIFACT,
                    "dequant kernel 'dequant_fp8_0' writes arguments other than its last (the copy)");
  // Each matrix's scales start at e x its blocks: the command's [n, k] must
  // be the weight's.
  Bytes g = mutated([](ArtifactBuilder &b) {
    useFp8Cuda(b);
    cmd<fb::GroupedGemmT>(b, 3)->n = 4;
  });
  EXPECT_LOAD_ERROR(g, MOERT_INVALID_ARTIFACT,
                    "operand b (weight 4 'w8') is in 128 x 128 scale blocks of [8, 8] matrices, "
                    "but the command multiplies by [4, 8]");
  // The gemv kernel of an fp8 grouped GEMM takes B's scales too.
  auto gemv = [](uint32_t args) {
    return withGemvKernel([](ArtifactBuilder &b) { useFp8Cuda(b); },
                          "grouped_gemv_fp8_warp_0", args);
  };
  moert::Status ok = loadStatus(gemv(5));
  EXPECT_TRUE(ok.ok()) << ok.message();
  EXPECT_LOAD_ERROR(gemv(4), MOERT_INVALID_ARTIFACT,
                    "gemv kernel 'grouped_gemv_fp8_warp_0' takes 4 buffers with 32 lanes, "
                    "expected 5 (a, b, b's scales, offsets, c) with 32");
  // Its bounds: B's scales hold 2 x 4 bytes.
  Bytes h = withGemvKernel([](ArtifactBuilder &b) { useFp8Cuda(b); },
                           "grouped_gemv_fp8_warp_0", 5, 16, {0, 128, 12, 0, 0});
  EXPECT_LOAD_ERROR(h, MOERT_INVALID_ARTIFACT,
                    "command 3 (GroupedGemm): gemv kernel argument 2 (the scales of weight 4 "
                    "'w8') holds 8 bytes, but kernel 'grouped_gemv_fp8_warp_0' needs 12");
}

// cuBLASLt's fp8 engine (act_quant_kernel, format 9): on an f8e4m3 GEMM of
// the cuda target only, with n and k that fit it (the e2e test
// cuda_fp8_cublaslt_fake_driver.test loads one that does), in an artifact
// that claims format 9.
TEST(LoaderSemantic, ActQuantKernel) {
  Bytes shape = mutated([](ArtifactBuilder &b) {
    useFp8Cuda(b);
    cmd<fb::GroupedGemmT>(b, 3)->act_quant_kernel = cmd<fb::GroupedGemmT>(b, 3)->dequant_kernel;
  });
  EXPECT_LOAD_ERROR(shape, MOERT_INVALID_ARTIFACT,
                    "command 3 (GroupedGemm): an act_quant GEMM needs n and k multiples of 16 "
                    "and ceil(k / 128) a multiple of 4, got n = 8, k = 8");
  Bytes f32 = mutated([](ArtifactBuilder &b) {
    useCudaTarget(b);
    cmd<fb::GemmT>(b, 0)->act_quant_kernel = 0;
  });
  EXPECT_LOAD_ERROR(f32, MOERT_INVALID_ARTIFACT,
                    "command 0 (Gemm): act_quant kernel 0, but only an f8e4m3 GEMM on the cuda "
                    "target has one");
  ArtifactBuilder ab(kMaxT);
  makeSmall(ab);
  useFp8Cuda(ab);
  cmd<fb::GroupedGemmT>(ab, 3)->act_quant_kernel = 0;
  ArtifactBuilder::Options o;
  o.formatVersion = moert::kActQuantFormatVersion - 1;
  EXPECT_LOAD_ERROR(ab.build(o), MOERT_INVALID_ARTIFACT,
                    "command 3 (GroupedGemm): act_quant kernel 0 in an artifact of format "
                    "version 8; it needs 9");
}

// An mxfp4 grouped GEMM: B is an mxfp4 weight [2, 8, 32] in MXFP4 panels
// (weight 4: per matrix one panel of one group, 544 bytes), A a new f32
// buffer [rows, 32], C f32.
void useMxfp4(ArtifactBuilder &a) {
  std::vector<uint8_t> panels(2 * moert::mxfp4PanelBytes(8, 32), 0);
  uint32_t w = a.addWeight("w4", fb::DType::MXFP4, {2, 8, 32}, panels.data(), panels.size());
  a.model.weights[w]->layout = fb::WeightLayout::Panels32;
  FunctionBuilder f(a.model, fn(a));
  auto *g = cmd<fb::GroupedGemmT>(a, 3);
  *g->a = buf(f.buffer(128, 0));
  *g->b = wt(w);
  g->k = 32;
  g->dtype = fb::DType::MXFP4;
}

TEST(LoaderSemantic, Mxfp4Weights) {
  Bytes good = mutated(useMxfp4);
  EXPECT_TRUE(loadStatus(good)) << loadStatus(good).message();
  // Always in panels, k a multiple of 32, the panels' bytes exactly.
  Bytes a = mutated([](ArtifactBuilder &b) {
    useMxfp4(b);
    b.model.weights[4]->layout = fb::WeightLayout::RowMajor;
  });
  EXPECT_LOAD_ERROR(a, MOERT_INVALID_ARTIFACT,
                    "weight 4 ('w4'): an mxfp4 weight is [..., n, k] with k a multiple of 32 "
                    "in layout Panels32, got [2, 8, 32] in layout RowMajor");
  Bytes c = mutated([](ArtifactBuilder &b) {
    useMxfp4(b);
    b.model.weights[4]->shape = {2, 8, 48};
  });
  EXPECT_LOAD_ERROR(c, MOERT_INVALID_ARTIFACT,
                    "weight 4 ('w4'): an mxfp4 weight is [..., n, k] with k a multiple of 32 "
                    "in layout Panels32, got [2, 8, 48]");
  Bytes d = mutated([](ArtifactBuilder &b) {
    useMxfp4(b);
    b.model.weights[4]->shape = {2, 40, 32}; // two panels per matrix
  });
  EXPECT_LOAD_ERROR(d, MOERT_INVALID_ARTIFACT,
                    "weight 4 ('w4'): bytes is 1088, but mxfp4 [2, 40, 32] in panels is 2176 bytes");
  Bytes e = mutated([](ArtifactBuilder &b) {
    useMxfp4(b);
    b.model.weights[4]->shape = {INT64_MAX / 2, 8, 32};
  });
  EXPECT_LOAD_ERROR(e, MOERT_INVALID_ARTIFACT, "mxfp4 [4611686018427387903, 8, 32] is too large");
  // The command multiplies by the weight's own [n, k] matrices, on the CPU.
  Bytes f = mutated([](ArtifactBuilder &b) {
    useMxfp4(b);
    cmd<fb::GroupedGemmT>(b, 3)->dtype = fb::DType::F32;
  });
  EXPECT_LOAD_ERROR(f, MOERT_INVALID_ARTIFACT, "operand b (weight 4 'w4') is mxfp4, expected f32");
  Bytes g = mutated([](ArtifactBuilder &b) {
    useMxfp4(b);
    cmd<fb::GemmT>(b, 0)->dtype = fb::DType::MXFP4;
  });
  EXPECT_LOAD_ERROR(g, MOERT_INVALID_ARTIFACT,
                    "command 0 (Gemm): an mxfp4 GEMM's operand b must be a weight in panels");
  Bytes h = mutated([](ArtifactBuilder &b) {
    useMxfp4(b);
    *cmd<fb::GroupedGemmT>(b, 3)->a = buf(0);
  });
  EXPECT_LOAD_ERROR(h, MOERT_INVALID_ARTIFACT, "but f32 [rows, k] needs 128");
  // The command reads experts x [n, k] in panels: 3 x 544 bytes of a 2 x 544
  // weight is refused; so are MXFP4 panels in an artifact for the GPU.
  Bytes k = mutated([](ArtifactBuilder &b) {
    useMxfp4(b);
    cmd<fb::GroupedGemmT>(b, 3)->experts = 3;
  });
  EXPECT_LOAD_ERROR(k, MOERT_INVALID_ARTIFACT,
                    "command 3 (GroupedGemm): operand b (weight 4 'w4') holds 1088 bytes, "
                    "but mxfp4 [experts, n, k] needs 1632");
  Bytes l = mutated([](ArtifactBuilder &b) {
    useMxfp4(b);
    b.model.target = fb::Target::Cuda;
  });
  EXPECT_LOAD_ERROR(l, MOERT_INVALID_ARTIFACT,
                    "weight 4 ('w4'): layout Panels32 is the CPU target's, not this artifact's");
  Bytes i = mutated([](ArtifactBuilder &b) { fn(b).inputs[0]->dtype = fb::DType::MXFP4; });
  EXPECT_LOAD_ERROR(i, MOERT_INVALID_ARTIFACT, "dtype mxfp4 is for weights only");
  Bytes j = mutated([](ArtifactBuilder &b) {
    useMxfp4(b);
    b.model.weights[4]->init = fb::WeightInit::RandomUniform;
    b.model.weights[4]->offset = b.model.weights[4]->bytes = 0;
    b.model.weights[4]->checksums.clear();
  });
  EXPECT_TRUE(loadStatus(j)) << loadStatus(j).message();
}

// mxfp4 on the CUDA target: B an mxfp4 weight [2, 8, 64] in MXFP4 rows
// (weight 4: per row 32 bytes of codes then 2 scale bytes), A bf16, and a
// dequant kernel (rows, bf16 copy) over the n = 8 rows of a matrix.
void useMxfp4Cuda(ArtifactBuilder &a, uint32_t dequantArgs = 2) {
  useCudaTarget(a);
  std::vector<uint8_t> rows(2 * 8 * moert::mxfp4RowBytes(64), 0);
  uint32_t w = a.addWeight("w4", fb::DType::MXFP4, {2, 8, 64}, rows.data(), rows.size());
  uint32_t k = a.testKernel("dequant_mxfp4_0", dequantArgs);
  // Writes its last buffer (the copy): one matrix's rows, the matrix as bf16.
  std::vector<uint64_t> bounds = {8 * 34, 8 * 64 * 2};
  bounds.resize(dequantArgs, 128);
  a.setKernelBounds(k, 8, uint64_t(1) << (dequantArgs - 1), bounds);
  FunctionBuilder f(a.model, fn(a));
  auto *g = cmd<fb::GroupedGemmT>(a, 3);
  *g->a = buf(f.buffer(128, 0)); // bf16 [rows, 64]
  *g->b = wt(w);
  g->k = 64;
  g->dtype = fb::DType::MXFP4;
  g->dequant_kernel = static_cast<int32_t>(k);
}

TEST(LoaderSemantic, Mxfp4OnCuda) {
  EXPECT_EQ(moert::mxfp4RowBytes(64), 34u);
  Bytes good = mutated([](ArtifactBuilder &b) { useMxfp4Cuda(b); });
  EXPECT_TRUE(loadStatus(good)) << loadStatus(good).message();
  // The rows' bytes exactly: 2 x 8 x 34, not the 2 x 8 x 51 of [2, 8, 96].
  Bytes a = mutated([](ArtifactBuilder &b) {
    useMxfp4Cuda(b);
    b.model.weights[4]->shape = {2, 8, 96};
  });
  EXPECT_LOAD_ERROR(a, MOERT_INVALID_ARTIFACT,
                    "weight 4 ('w4'): bytes is 544, but mxfp4 [2, 8, 96] in MXFP4 rows is 816 bytes");
  Bytes c = mutated([](ArtifactBuilder &b) {
    useMxfp4Cuda(b);
    b.model.weights[4]->shape = {2, 16, 34};
  });
  EXPECT_LOAD_ERROR(c, MOERT_INVALID_ARTIFACT,
                    "weight 4 ('w4'): an mxfp4 weight is [..., n, k] with k a multiple of 32 "
                    "in layout RowMajor (MXFP4 rows) on the cuda target, got [2, 16, 34]");
  Bytes d = mutated([](ArtifactBuilder &b) {
    useMxfp4Cuda(b);
    cmd<fb::GroupedGemmT>(b, 3)->dequant_kernel = -1;
  });
  EXPECT_LOAD_ERROR(d, MOERT_INVALID_ARTIFACT,
                    "command 3 (GroupedGemm): dequant kernel -1, but an mxfp4 GEMM on the "
                    "cuda target needs one");
  EXPECT_LOAD_ERROR(mutated([](ArtifactBuilder &b) { useMxfp4Cuda(b, 3); }),
                    MOERT_INVALID_ARTIFACT,
                    "dequant kernel 'dequant_mxfp4_0' takes 3 buffers over at most 8 rows, "
                    "expected 2 (rows, copy) over 8");
  // The command multiplies by the weight's own [n, k] matrices.
  Bytes e = mutated([](ArtifactBuilder &b) {
    useMxfp4Cuda(b);
    cmd<fb::GroupedGemmT>(b, 3)->n = 4;
  });
  EXPECT_LOAD_ERROR(e, MOERT_INVALID_ARTIFACT,
                    "operand b (weight 4 'w4') is in MXFP4 rows of [8, 64] matrices, but the "
                    "command multiplies by [4, 64]");
  // A is bf16 there: [rows, 64] of 2 bytes each.
  Bytes f = mutated([](ArtifactBuilder &b) {
    useMxfp4Cuda(b);
    FunctionBuilder fb(b.model, fn(b));
    *cmd<fb::GroupedGemmT>(b, 3)->a = buf(fb.buffer(127, 0));
  });
  EXPECT_LOAD_ERROR(f, MOERT_INVALID_ARTIFACT, "but bf16 [rows, k] needs 128");
  // Its gemv kernel takes (a, b, offsets, c): the scales are in the rows.
  auto gemv = [](uint32_t args) {
    return withGemvKernel([](ArtifactBuilder &b) { useMxfp4Cuda(b); },
                          "grouped_gemv_mxfp4_warp_0", args);
  };
  moert::Status ok = loadStatus(gemv(4));
  EXPECT_TRUE(ok.ok()) << ok.message();
  EXPECT_LOAD_ERROR(gemv(5), MOERT_INVALID_ARTIFACT,
                    "gemv kernel 'grouped_gemv_mxfp4_warp_0' takes 5 buffers with 32 lanes, "
                    "expected 4 (a, b, offsets, c) with 32");
  // The dequant kernel reads one matrix's rows (8 x 34 bytes).
  Bytes g = mutated([](ArtifactBuilder &b) {
    useMxfp4Cuda(b);
    b.setKernelBounds(static_cast<uint32_t>(cmd<fb::GroupedGemmT>(b, 3)->dequant_kernel), 8,
                      2, {8 * 34 + 1, 8 * 64 * 2});
  });
  EXPECT_LOAD_ERROR(g, MOERT_INVALID_ARTIFACT,
                    "dequant kernel 'dequant_mxfp4_0' may touch 273 bytes through argument 0, "
                    "but one [8, 64] matrix gives it 272");
}

// An int4 grouped GEMM: B is an int4 weight [2, 8, 64] with groups of 32
// in integer panels (weight 4: per matrix one panel of two groups of 608
// bytes), A a new f32 buffer [rows, 64], C f32.
void useInt4(ArtifactBuilder &a) {
  std::vector<uint8_t> panels(2 * moert::intPanelBytes(4, 8, 64, 32), 0);
  uint32_t w = a.addWeight("w4", fb::DType::INT4, {2, 8, 64}, panels.data(), panels.size());
  a.model.weights[w]->layout = fb::WeightLayout::Panels32;
  a.model.weights[w]->group_size = 32;
  FunctionBuilder f(a.model, fn(a));
  auto *g = cmd<fb::GroupedGemmT>(a, 3);
  *g->a = buf(f.buffer(256, 0));
  *g->b = wt(w);
  g->k = 64;
  g->dtype = fb::DType::INT4;
}

TEST(LoaderSemantic, IntWeights) {
  Bytes good = mutated(useInt4);
  EXPECT_TRUE(loadStatus(good)) << loadStatus(good).message();
  // The group size: 32, 64 or 128, k a multiple of it; on int weights only.
  Bytes a = mutated([](ArtifactBuilder &b) {
    useInt4(b);
    b.model.weights[4]->group_size = 48;
  });
  EXPECT_LOAD_ERROR(a, MOERT_INVALID_ARTIFACT,
                    "weight 4 ('w4'): an int4 weight's group size is 32, 64 or 128, got 48");
  Bytes c = mutated([](ArtifactBuilder &b) {
    useInt4(b);
    b.model.weights[4]->group_size = 128;
  });
  EXPECT_LOAD_ERROR(c, MOERT_INVALID_ARTIFACT,
                    "weight 4 ('w4'): an int4 weight is [..., n, k] with k a multiple of 128 in "
                    "layout Panels32, got [2, 8, 64]");
  Bytes d = mutated([](ArtifactBuilder &b) {
    useInt4(b);
    b.model.weights[4]->layout = fb::WeightLayout::RowMajor;
  });
  EXPECT_LOAD_ERROR(d, MOERT_INVALID_ARTIFACT, "got [2, 8, 64] in layout RowMajor");
  Bytes e = mutated([](ArtifactBuilder &b) { b.model.weights[0]->group_size = 32; });
  EXPECT_LOAD_ERROR(e, MOERT_INVALID_ARTIFACT,
                    "weight 0 ('w'): only an int8 or int4 weight has a group size (group_size is 32)");
  // The panels' bytes exactly: int8 panels of the same shape are larger.
  Bytes f = mutated([](ArtifactBuilder &b) {
    useInt4(b);
    b.model.weights[4]->dtype = fb::DType::INT8;
    cmd<fb::GroupedGemmT>(b, 3)->dtype = fb::DType::INT8;
  });
  EXPECT_LOAD_ERROR(f, MOERT_INVALID_ARTIFACT,
                    "weight 4 ('w4'): bytes is 2432, but int8 [2, 8, 64] in panels is 4352 bytes");
  Bytes g = mutated([](ArtifactBuilder &b) {
    useInt4(b);
    b.model.weights[4]->shape = {INT64_MAX / 2, 8, 64};
  });
  EXPECT_LOAD_ERROR(g, MOERT_INVALID_ARTIFACT, "int4 [4611686018427387903, 8, 64] is too large");
  // The command's dtype is the weight's; B in panels; experts within it.
  Bytes h = mutated([](ArtifactBuilder &b) {
    useInt4(b);
    cmd<fb::GroupedGemmT>(b, 3)->dtype = fb::DType::INT8;
  });
  EXPECT_LOAD_ERROR(h, MOERT_INVALID_ARTIFACT, "operand b (weight 4 'w4') is int4, expected int8");
  Bytes i = mutated([](ArtifactBuilder &b) {
    useInt4(b);
    cmd<fb::GemmT>(b, 0)->dtype = fb::DType::INT8;
  });
  EXPECT_LOAD_ERROR(i, MOERT_INVALID_ARTIFACT,
                    "command 0 (Gemm): an int8 GEMM's operand b must be a weight in panels");
  Bytes j = mutated([](ArtifactBuilder &b) {
    useInt4(b);
    cmd<fb::GroupedGemmT>(b, 3)->experts = 3;
  });
  EXPECT_LOAD_ERROR(j, MOERT_INVALID_ARTIFACT,
                    "command 3 (GroupedGemm): operand b (weight 4 'w4') holds 2432 bytes, "
                    "but int4 [experts, n, k] needs 3648");
  // int8 activations: an int GEMM's choice only.
  Bytes n = mutated([](ArtifactBuilder &b) {
    useInt4(b);
    cmd<fb::GroupedGemmT>(b, 3)->int8_activations = true;
  });
  EXPECT_TRUE(loadStatus(n)) << loadStatus(n).message();
  Bytes o = mutated([](ArtifactBuilder &b) { cmd<fb::GemmT>(b, 0)->int8_activations = true; });
  EXPECT_LOAD_ERROR(o, MOERT_INVALID_ARTIFACT,
                    "command 0 (Gemm): int8_activations is for int8 and int4 GEMMs, not f32");
  Bytes k = mutated([](ArtifactBuilder &b) { fn(b).inputs[0]->dtype = fb::DType::INT8; });
  EXPECT_LOAD_ERROR(k, MOERT_INVALID_ARTIFACT, "dtype int8 is for weights only");
  Bytes l = mutated([](ArtifactBuilder &b) {
    useInt4(b);
    b.model.target = fb::Target::Cuda;
  });
  EXPECT_LOAD_ERROR(l, MOERT_INVALID_ARTIFACT,
                    "weight 4 ('w4'): layout Panels32 is the CPU target's, not this artifact's");
  // Synthetic: generated and quantized at load time.
  Bytes m = mutated([](ArtifactBuilder &b) {
    useInt4(b);
    b.model.weights[4]->init = fb::WeightInit::RandomUniform;
    b.model.weights[4]->offset = b.model.weights[4]->bytes = 0;
    b.model.weights[4]->checksums.clear();
  });
  EXPECT_TRUE(loadStatus(m)) << loadStatus(m).message();
}

TEST(LoaderSemantic, GroupedGemmOperands) {
  Bytes b = mutated([](ArtifactBuilder &a) { cmd<fb::GroupedGemmT>(a, 3)->experts = 3; });
  EXPECT_LOAD_ERROR(b, MOERT_INVALID_ARTIFACT,
                    "command 3 (GroupedGemm): operand b (weight 2 'wg') holds 512 bytes, but f32 [experts, n, k] needs 768");
  Bytes c = mutated([](ArtifactBuilder &a) { *cmd<fb::GroupedGemmT>(a, 3)->offsets = wt(1); });
  EXPECT_LOAD_ERROR(c, MOERT_INVALID_ARTIFACT, "operand offsets (weight 1 'bias') is f32, expected i32");
  Bytes d = mutated([](ArtifactBuilder &a) {
    FunctionBuilder f(a.model, fn(a));
    *cmd<fb::GroupedGemmT>(a, 3)->offsets = buf(f.buffer(0, 8));
  });
  EXPECT_LOAD_ERROR(d, MOERT_INVALID_ARTIFACT, "operand offsets (buffer 5) holds 8 bytes at T = 1, but i32 [experts + 1] needs 12");
  Bytes e = mutated([](ArtifactBuilder &a) { *cmd<fb::GroupedGemmT>(a, 3)->c = buf(3); });
  EXPECT_LOAD_ERROR(e, MOERT_INVALID_ARTIFACT, "operand c (buffer 3) holds 16 bytes at T = 1");
  Bytes f = mutated([](ArtifactBuilder &a) { cmd<fb::GroupedGemmT>(a, 3)->experts = 0; });
  EXPECT_LOAD_ERROR(f, MOERT_INVALID_ARTIFACT, "experts is 0");
}

/// The CUDA target's generated engine for a grouped GEMM: a kernel of four
/// buffers and 32 lanes, up to a T within max_tokens, and only on cuda.
TEST(LoaderSemantic, GroupedGemmGemvKernel) {
  auto gemv = [](int32_t kernel, int64_t maxT, uint32_t args, uint32_t lanes,
                 bool cuda = true) {
    return mutated([=](ArtifactBuilder &a) {
      if (cuda)
        useCudaTarget(a);
      uint32_t k = a.testKernel("grouped_gemv_warp_0", args);
      a.model.kernels[k]->lanes = lanes;
      auto *g = cmd<fb::GroupedGemmT>(a, 3);
      g->gemv_kernel = kernel < 0 ? static_cast<int32_t>(k) : kernel;
      g->gemv_max_tokens = maxT;
    });
  };
  moert::Status ok = loadStatus(gemv(-1, 8, 4, 32));
  EXPECT_TRUE(ok.ok()) << ok.message();
  ok = loadStatus(gemv(-1, kMaxT, 4, 32));
  EXPECT_TRUE(ok.ok()) << ok.message();
  EXPECT_LOAD_ERROR(gemv(-1, 8, 4, 32, /*cuda=*/false), MOERT_INVALID_ARTIFACT,
                    "command 3 (GroupedGemm): a gemv kernel is the cuda target's, not this artifact's");
  EXPECT_LOAD_ERROR(gemv(9, 8, 4, 32), MOERT_INVALID_ARTIFACT,
                    "command 3 (GroupedGemm): gemv kernel 9 does not exist (the artifact has 2 kernels)");
  EXPECT_LOAD_ERROR(gemv(-1, 0, 4, 32), MOERT_INVALID_ARTIFACT,
                    "gemv_max_tokens is 0, expected 1 <= gemv_max_tokens <= max_tokens");
  EXPECT_LOAD_ERROR(gemv(-1, kMaxT + 1, 4, 32), MOERT_INVALID_ARTIFACT,
                    "gemv_max_tokens is " + std::to_string(kMaxT + 1));
  EXPECT_LOAD_ERROR(gemv(-1, 8, 3, 32), MOERT_INVALID_ARTIFACT,
                    "gemv kernel 'grouped_gemv_warp_0' takes 3 buffers with 32 lanes, expected 4 (a, b, offsets, c) with 32");
  EXPECT_LOAD_ERROR(gemv(-1, 8, 4, 1), MOERT_INVALID_ARTIFACT,
                    "takes 4 buffers with 1 lanes, expected 4");
  // A launch's kernel (3 buffers, 1 lane) is not a gemv kernel.
  EXPECT_LOAD_ERROR(gemv(0, 8, 4, 32), MOERT_INVALID_ARTIFACT,
                    "gemv kernel 'moert_test_add_bias8' takes 3 buffers");
  // Its bounds, as a launch's: no argument smaller than the kernel may
  // touch (compared at max_tokens), and it writes only c.
  auto bounded = [](uint64_t writes, std::vector<uint64_t> argBytes) {
    return withGemvKernel(useCudaTarget, "grouped_gemv_warp_0", 4, writes, argBytes);
  };
  EXPECT_LOAD_ERROR(bounded(1, {0, 0, 0, 0}), MOERT_INVALID_ARTIFACT,
                    "gemv kernel 'grouped_gemv_warp_0' writes arguments other than c");
  EXPECT_LOAD_ERROR(bounded(8, {uint64_t(1) << 40, 0, 0, 0}), MOERT_INVALID_ARTIFACT,
                    "command 3 (GroupedGemm): gemv kernel argument 0 (buffer");
  EXPECT_LOAD_ERROR(bounded(8, {0, uint64_t(1) << 40, 0, 0}), MOERT_INVALID_ARTIFACT,
                    "command 3 (GroupedGemm): gemv kernel argument 1 (weight");
  EXPECT_LOAD_ERROR(bounded(8, {0, 0, 0, uint64_t(1) << 40}), MOERT_INVALID_ARTIFACT,
                    "command 3 (GroupedGemm): gemv kernel argument 3 (buffer");
}

TEST(LoaderSemantic, FillAndCopy) {
  Bytes b = mutated([](ArtifactBuilder &a) { *cmd<fb::FillT>(a, 4)->bytes = fb::Affine(32, 4); });
  EXPECT_LOAD_ERROR(b, MOERT_INVALID_ARTIFACT, "command 4 (Fill): operand dst (buffer 4) holds 32 bytes at T = 1, but bytes(T) needs 36");
  Bytes c = mutated([](ArtifactBuilder &a) { *cmd<fb::FillT>(a, 4)->dst = wt(1); });
  EXPECT_LOAD_ERROR(c, MOERT_INVALID_ARTIFACT, "command 4 (Fill): operand dst is weight 1: weights are read-only");
  Bytes d = mutated([](ArtifactBuilder &a) { *cmd<fb::CopyT>(a, 2)->bytes = fb::Affine(0, 16); });
  EXPECT_LOAD_ERROR(d, MOERT_INVALID_ARTIFACT, "command 2 (Copy): operand src (weight 3 'offs') holds 12 bytes, but bytes(T) needs 16");
  Bytes e = mutated([](ArtifactBuilder &a) { *cmd<fb::CopyT>(a, 2)->src = buf(3); });
  EXPECT_LOAD_ERROR(e, MOERT_INVALID_ARTIFACT, "command 2 (Copy): operand dst (buffer 3, arena [768, 780)) overlaps operand src");
  Bytes f = mutated([](ArtifactBuilder &a) { cmd<fb::CopyT>(a, 2)->bytes.reset(); });
  EXPECT_LOAD_ERROR(f, MOERT_INVALID_ARTIFACT, "command 2 (Copy): bytes is missing");
}

TEST(LoaderSemantic, Launches) {
  Bytes b = mutated([](ArtifactBuilder &a) { cmd<fb::LaunchT>(a, 1)->kernel = 7; });
  EXPECT_LOAD_ERROR(b, MOERT_INVALID_ARTIFACT, "command 1 (Launch): kernel 7 does not exist (the artifact has 1 kernels)");
  Bytes c = mutated([](ArtifactBuilder &a) { cmd<fb::LaunchT>(a, 1)->args.pop_back(); });
  EXPECT_LOAD_ERROR(c, MOERT_INVALID_ARTIFACT, "kernel 'moert_test_add_bias8' takes 3 arguments, the launch passes 2");
  Bytes d = mutated([](ArtifactBuilder &a) { cmd<fb::LaunchT>(a, 1)->grain = 0; });
  EXPECT_LOAD_ERROR(d, MOERT_INVALID_ARTIFACT, "grain is 0, expected >= 1");
  Bytes e = mutated([](ArtifactBuilder &a) { *cmd<fb::LaunchT>(a, 1)->extent = fb::Affine(1, -2); });
  EXPECT_LOAD_ERROR(e, MOERT_INVALID_ARTIFACT, "extent (1 * T + -2) is negative");
  Bytes f = mutated([](ArtifactBuilder &a) { cmd<fb::LaunchT>(a, 1)->extent.reset(); });
  EXPECT_LOAD_ERROR(f, MOERT_INVALID_ARTIFACT, "command 1 (Launch): extent is missing");
}

// The kernel's bounds (docs/artifact.md, "Kernel bounds"): an edited extent,
// an argument smaller than the kernel touches, a write to a weight, or bounds
// that do not fit the kernel are load errors, not runs out of bounds.
TEST(LoaderSemantic, KernelBounds) {
  // add_bias8(h, bias, y) over T rows of 8 f32: 256, 32 and 256 bytes at
  // max_tokens = 8, writes y.
  auto bounded = [](int64_t maxExtent, uint64_t writes,
                    std::vector<uint64_t> bytes) {
    return [=](ArtifactBuilder &a) { a.setKernelBounds(0, maxExtent, writes, bytes); };
  };
  {
    moert::Status s = loadStatus(mutated(bounded(kMaxT, 4, {256, 32, 256})));
    EXPECT_TRUE(s.ok()) << s.message();
  }
  Bytes e = mutated([&](ArtifactBuilder &a) {
    bounded(kMaxT, 4, {256, 32, 256})(a);
    *cmd<fb::LaunchT>(a, 1)->extent = fb::Affine(2, 0);
  });
  EXPECT_LOAD_ERROR(e, MOERT_INVALID_ARTIFACT,
                    "command 1 (Launch): extent reaches 16 at max_tokens = 8, "
                    "but kernel 'moert_test_add_bias8' handles at most 8");
  Bytes small = mutated(bounded(kMaxT, 4, {256, 32, 512}));
  EXPECT_LOAD_ERROR(small, MOERT_INVALID_ARTIFACT,
                    "command 1 (Launch): argument 2 (buffer 2) holds 256 bytes "
                    "at T = 8, but kernel 'moert_test_add_bias8' needs 512");
  Bytes weight = mutated(bounded(kMaxT, 4, {256, 64, 256}));
  EXPECT_LOAD_ERROR(weight, MOERT_INVALID_ARTIFACT,
                    "argument 1 (weight 1 'bias') holds 32 bytes, but kernel "
                    "'moert_test_add_bias8' needs 64");
  Bytes writes = mutated(bounded(kMaxT, 2, {256, 32, 256}));
  EXPECT_LOAD_ERROR(writes, MOERT_INVALID_ARTIFACT,
                    "command 1 (Launch): argument 1 is weight 1: weights are "
                    "read-only");
  Bytes count = mutated(bounded(kMaxT, 4, {256, 32}));
  EXPECT_LOAD_ERROR(count, MOERT_INVALID_ARTIFACT,
                    "kernel 0 ('moert_test_add_bias8'): arg_bytes lists 2 sizes for 3 arguments");
  Bytes mask = mutated(bounded(kMaxT, 8, {256, 32, 256}));
  EXPECT_LOAD_ERROR(mask, MOERT_INVALID_ARTIFACT, "writes mask 8 names arguments beyond its 3");
  Bytes neg = mutated(bounded(-1, 4, {256, 32, 256}));
  EXPECT_LOAD_ERROR(neg, MOERT_INVALID_ARTIFACT, "max_extent is -1");
}

TEST(LoaderSemantic, CommandsMustHaveABody) {
  Bytes b = mutated([](ArtifactBuilder &a) {
    fn(a).commands.push_back(std::make_unique<fb::CommandEntryT>());
  });
  EXPECT_LOAD_ERROR(b, MOERT_INVALID_ARTIFACT, "command 5 has no command");
}

TEST(LoaderSemantic, InputsAndOutputs) {
  Bytes b = mutated([](ArtifactBuilder &a) { fn(a).inputs[0]->shape = {-1, -1}; });
  EXPECT_LOAD_ERROR(b, MOERT_INVALID_ARTIFACT, "input 0 ('x'): shape [T, T] has more than one token (-1) dimension");
  Bytes c = mutated([](ArtifactBuilder &a) { fn(a).inputs[0]->shape = {-1, 16}; });
  EXPECT_LOAD_ERROR(c, MOERT_INVALID_ARTIFACT, "input 0 ('x') (buffer 0) holds 32 bytes at T = 1, but f32 [T, 16] needs 64");
  Bytes d = mutated([](ArtifactBuilder &a) { fn(a).outputs[0]->buffer = 42; });
  EXPECT_LOAD_ERROR(d, MOERT_INVALID_ARTIFACT, "output 0 ('y'): buffer 42 does not exist");
  Bytes e = mutated([](ArtifactBuilder &a) { fn(a).inputs[0]->shape = {-1, 1, 1, 1, 1, 1, 1, 1, 8}; });
  EXPECT_LOAD_ERROR(e, MOERT_INVALID_ARTIFACT, "rank 9 exceeds the runtime's maximum of 8");
  Bytes f = mutated([](ArtifactBuilder &a) { fn(a).outputs[0]->shape = {-1, -2}; });
  EXPECT_LOAD_ERROR(f, MOERT_INVALID_ARTIFACT, "output 0 ('y'): dimension 1 is -2");
  Bytes g = mutated([](ArtifactBuilder &a) { fn(a).outputs[0]->dtype = static_cast<fb::DType>(8); });
  EXPECT_LOAD_ERROR(g, MOERT_INVALID_ARTIFACT, "output 0 ('y'): unknown dtype 8");
  Bytes h = mutated([](ArtifactBuilder &a) { fn(a).outputs[0]->name = "x"; fn(a).inputs[0]->name = ""; });
  EXPECT_LOAD_ERROR(h, MOERT_INVALID_ARTIFACT, "input 0: the name is empty");
  Bytes i = mutated([](ArtifactBuilder &a) {
    FunctionBuilder f(a.model, fn(a));
    f.auxOutput("y", fb::DType::F32, {4}, 3);
  });
  EXPECT_LOAD_ERROR(i, MOERT_INVALID_ARTIFACT, "aux output 0: the name 'y' is used twice");
  // A fixed-size tensor in a T-sized buffer must fit at T = 1.
  Bytes j = mutated([](ArtifactBuilder &a) { fn(a).outputs[0]->shape = {2, 8}; });
  EXPECT_LOAD_ERROR(j, MOERT_INVALID_ARTIFACT, "holds 32 bytes at T = 1, but f32 [2, 8] needs 64");
}

TEST(LoaderSemantic, Functions) {
  Bytes b = mutated([](ArtifactBuilder &a) { a.model.functions.clear(); });
  EXPECT_LOAD_ERROR(b, MOERT_INVALID_ARTIFACT, "the artifact has no functions");
  Bytes c = mutated([](ArtifactBuilder &a) { a.function("forward"); });
  EXPECT_LOAD_ERROR(c, MOERT_INVALID_ARTIFACT, "function 1: the name 'forward' is used twice");
  Bytes d = mutated([](ArtifactBuilder &a) { fn(a).name = ""; });
  EXPECT_LOAD_ERROR(d, MOERT_INVALID_ARTIFACT, "function 0: the name is empty");
}

// The checks run in the documented order: a header problem is reported before
// a table problem, the table checksum before the blob's, the target before
// any other semantic problem.
TEST(LoaderSemantic, ChecksRunInOrder) {
  Bytes b = mutated([](ArtifactBuilder &a) {
    a.model.target = static_cast<fb::Target>(7);
    a.model.max_tokens = 0;
    fn(a).arena_bytes = 0;
  });
  EXPECT_LOAD_ERROR(b, MOERT_UNSUPPORTED, "target 7");
  Bytes c = mutated([](ArtifactBuilder &a) {
    a.model.max_tokens = 0;
    a.model.weights[0]->shape = {1};
  });
  EXPECT_LOAD_ERROR(c, MOERT_INVALID_ARTIFACT, "max_tokens is 0");
}

// Corrupted tables that still load must also run safely: with only the
// built-in commands (no kernel, which trusts its arguments), every command's
// reads and writes stay inside its operands whatever the table says (an ASan
// build turns any stray access into a failure).
TEST(LoaderVerifier, CorruptedTablesThatLoadRunSafely) {
  ArtifactBuilder b(6);
  b.addWeightF32("w", {8, 8}, randomFloats(64, 1));
  b.addWeightF32("wg", {3, 8, 8}, randomFloats(192, 2));
  b.addWeightI32("offs", {4}, {0, 1, 1, 2});
  FunctionBuilder f = b.function("f");
  uint32_t x = f.buffer(32, 0), h = f.buffer(32, 0), off = f.buffer(0, 16), g = f.buffer(32, 0),
           y = f.buffer(32, 0);
  f.input("x", fb::DType::F32, {-1, 8}, x);
  f.output("y", fb::DType::F32, {-1, 8}, y);
  f.gemm(buf(x), wt(0), buf(h), aff(1, 0), 8, 8);
  f.copy(wt(2), buf(off), aff(0, 16));
  f.groupedGemm(buf(h), wt(1), buf(g), buf(off), aff(1, 0), 3, 8, 8);
  f.gemm(buf(g), wt(0), buf(y), aff(1, 0), 8, 8, true);
  f.fill(buf(h), aff(32, 0), 0x3f800000u);
  f.copy(buf(h), buf(y), aff(16, 0));
  Bytes good = b.build();
  moert::FileHeader hd = header(good);
  std::mt19937 rng(seed(7));
  int ran = 0;
  for (int iter = 0, n = iterations(8000); iter < n; ++iter) {
    Bytes bad = good;
    for (int e = 0; e < 1 + iter % 3; ++e)
      bad[hd.table_offset + rng() % hd.table_size] = static_cast<uint8_t>(rng());
    rehash(bad);
    auto m = moert::Model::fromMemory(bad.data(), bad.size());
    if (!m)
      continue;
    // Skip arenas this test should not populate (a session allocates them).
    const fb::Model *table = fb::GetModel(bad.data() + hd.table_offset);
    bool hugeArena = false;
    for (const fb::Function *fn : *table->functions())
      hugeArena |= fn->arena_bytes() > (64u << 20);
    if (hugeArena)
      continue;
    for (size_t fi = 0; fi < m->numFunctions(); ++fi) {
      auto fn = m->function(m->functionName(fi));
      ASSERT_TRUE(fn) << fn.status().message();
      auto s = moert::Session::create(*m, "cpu", 1 + iter % 2);
      if (!s)
        continue; // e.g. an arena too large to allocate
      for (int64_t T : {int64_t(1), m->maxTokens() < 64 ? m->maxTokens() : int64_t(64)}) {
        std::vector<std::vector<uint8_t>> storage;
        std::vector<moert_tensor_t> inputs;
        bool representable = true;
        for (const moert::TensorInfo &t : fn->inputs) {
          std::vector<int64_t> shape = t.shape;
          size_t n = moert_dtype_size(t.dtype);
          for (int64_t &d : shape) {
            d = d == -1 ? T : d;
            n *= static_cast<size_t>(d);
          }
          if (n > (64u << 20)) {
            representable = false;
            break;
          }
          storage.emplace_back(n, 0);
          inputs.push_back(moert::tensor(t.dtype, shape, storage.back().data(), n));
        }
        if (!representable)
          continue;
        moert::Status st = s->run(fi, inputs);
        ran += st.ok();
      }
    }
  }
  // Most corruptions hit names or values that leave a runnable model: make
  // sure the runs happened.
  EXPECT_GT(ran, 200) << "too few corrupted artifacts ran";
  std::printf("%d runs of corrupted artifacts succeeded\n", ran);
}

// --- signatures (docs/artifact.md, "Signatures") ------------------------------

namespace {
struct KeyPair {
  uint8_t pk[32], sk[64];
  KeyPair() {
    if (sodium_init() < 0)
      std::abort();
    crypto_sign_keypair(pk, sk);
  }
};

moert::Status loadWith(const Bytes &bytes, const std::vector<const KeyPair *> &trusted,
                       bool require, moert_verify_t verify = MOERT_VERIFY_FULL) {
  std::vector<uint8_t> keys;
  for (const KeyPair *k : trusted)
    keys.insert(keys.end(), k->pk, k->pk + 32);
  moert_load_options_t o;
  moert_load_options_init(&o);
  o.verify = verify;
  o.trusted_keys = keys.data();
  o.num_trusted_keys = trusted.size();
  o.require_signature = require;
  moert_model_t *m = nullptr;
  moert::Status s =
      moert::Status::adopt(moert_model_load_memory_with(bytes.data(), bytes.size(), &o, &m));
  moert_model_free(m);
  return s;
}
} // namespace

TEST(LoaderSignature, SignedArtifactsLoadForTheirKeysOnly) {
  KeyPair alice, mallory;
  Bytes plain = small();
  Bytes signedBytes = plain;
  sign(signedBytes, alice.sk);
  EXPECT_TRUE(loadWith(signedBytes, {&alice}, true).ok());
  EXPECT_TRUE(loadWith(signedBytes, {&alice}, true, MOERT_VERIFY_LAZY).ok());
  EXPECT_TRUE(loadWith(signedBytes, {}, false).ok()); // intact, signer not judged
  EXPECT_TRUE(loadWith(plain, {&alice}, false).ok());  // unsigned, not required
  moert::Status s = loadWith(plain, {&alice}, true);
  EXPECT_NE(s.message().find("the artifact is not signed"), std::string::npos) << s.message();
  s = loadWith(signedBytes, {&mallory}, false);
  EXPECT_NE(s.message().find("which is not trusted"), std::string::npos) << s.message();
  s = loadWith(signedBytes, {}, true);
  EXPECT_EQ(s.code(), MOERT_INVALID_ARGUMENT);
  // Signed again by mallory: mallory's key, not alice's.
  Bytes resigned = signedBytes;
  sign(resigned, mallory.sk);
  EXPECT_FALSE(loadWith(resigned, {&alice}, true).ok());
  EXPECT_TRUE(loadWith(resigned, {&mallory}, true).ok());
}

TEST(LoaderSignature, ReSealedEditsAreRefused) {
  KeyPair alice;
  Bytes good = small();
  sign(good, alice.sk);
  // A table edit re-sealed (table and header checksums recomputed).
  Bytes table = good;
  moert::FileHeader h = header(table);
  table[h.table_offset + h.table_size / 2] ^= 1;
  rehash(table);
  moert::Status s = loadWith(table, {&alice}, true);
  EXPECT_NE(s.message().find("the signature does not verify"), std::string::npos) << s.message();
  // A changed blob hash in the signature section.
  Bytes hashes = good;
  hashes[hashes.size() - 1] ^= 1;
  s = loadWith(hashes, {&alice}, true);
  EXPECT_NE(s.message().find("the signature does not verify"), std::string::npos) << s.message();
  // A weight byte changed: refused at load (full), or before its first use
  // (lazy), never used.
  Bytes weight = good;
  weight[h.blob_offset + 4] ^= 1; // weight 0, 'w'
  s = loadWith(weight, {&alice}, true);
  EXPECT_NE(s.message().find("weight 0 ('w'): checksum or signed hash mismatch"),
            std::string::npos)
      << s.message();
  EXPECT_TRUE(loadWith(weight, {&alice}, true, MOERT_VERIFY_LAZY).ok());
  // The signature section must end the file and match its hash count.
  Bytes cut = good;
  cut.resize(cut.size() - 32);
  EXPECT_FALSE(loadWith(cut, {&alice}, true).ok());
}
