//===- TestArtifact.cpp -----------------------------------------------------===//
#include "TestArtifact.h"

#include <sodium.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <stdexcept>

#ifndef MOERT_TEST_KERNELS_SO
#error "MOERT_TEST_KERNELS_SO must name the test kernels' shared object"
#endif

namespace moert::test {

Bytes readBinaryFile(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    throw std::runtime_error("cannot read " + path);
  return Bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

bool writeBinaryFile(const std::string &path, const Bytes &bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char *>(bytes.data()),
            static_cast<std::streamsize>(bytes.size()));
  return static_cast<bool>(out);
}

const Bytes &testKernelsObject() {
  static const Bytes bytes = readBinaryFile(MOERT_TEST_KERNELS_SO);
  return bytes;
}

FileHeader header(const Bytes &file) {
  FileHeader h;
  if (file.size() < sizeof h)
    throw std::runtime_error("header(): file shorter than a header");
  std::memcpy(&h, file.data(), sizeof h);
  return h;
}

void setHeader(Bytes &file, const FileHeader &h) {
  std::memcpy(file.data(), &h, sizeof h);
}

void rehash(Bytes &file) {
  FileHeader h = header(file);
  if (h.table_offset > file.size() || h.table_size > file.size() - h.table_offset)
    throw std::runtime_error("rehash(): the table runs past the file");
  h.table_checksum = checksum64(file.data() + h.table_offset, h.table_size);
  setHeader(file, h);
  h.header_checksum = checksum64(file.data(), offsetof(FileHeader, header_checksum));
  setHeader(file, h);
}

void sign(Bytes &file, const uint8_t *secretKey) {
  if (sodium_init() < 0)
    throw std::runtime_error("sign(): libsodium failed to initialize");
  FileHeader h = header(file);
  if (h.signature_size) // drop the old section
    file.resize(h.signature_offset);
  const fb::Model *m = fb::GetModel(file.data() + h.table_offset);
  std::vector<uint8_t> hashes;
  // Each checksum chunk's hash (ChunkLayout: a weight in expert slices
  // restarts its chunks at each slice).
  auto hashBlob = [&](uint64_t offset, uint64_t bytes, uint64_t slices = 1) {
    ChunkLayout layout{bytes, slices > 1 ? slices : 1};
    for (uint64_t i = 0; i < layout.count(); ++i) {
      uint8_t out[kBlobHashBytes];
      crypto_generichash(out, sizeof out,
                         file.data() + h.blob_offset + offset + layout.begin(i),
                         layout.size(i), nullptr, 0);
      hashes.insert(hashes.end(), out, out + sizeof out);
    }
  };
  if (m->code_objects())
    for (const fb::CodeObject *c : *m->code_objects())
      hashBlob(c->offset(), c->bytes());
  if (m->weights())
    for (const fb::Weight *w : *m->weights())
      if (w->init() == fb::WeightInit::Blob)
        hashBlob(w->offset(), w->bytes(), w->expert_slices());
  h.signature_offset = file.size();
  h.signature_size = sizeof(SignatureHead) + hashes.size();
  h.file_size = h.signature_offset + h.signature_size;
  setHeader(file, h);
  rehash(file);
  h = header(file);
  SignatureHead head{};
  std::memcpy(head.magic, kSignatureMagic, sizeof head.magic);
  std::memcpy(head.public_key, secretKey + 32, sizeof head.public_key);
  head.hash_count = hashes.size() / kBlobHashBytes;
  uint8_t digest[crypto_generichash_BYTES_MAX];
  crypto_generichash_state state;
  crypto_generichash_init(&state, nullptr, 0, sizeof digest);
  forEachSignedPiece(h, file.data() + h.table_offset, h.table_size, hashes.data(),
                     hashes.size(), [&](const void *p, uint64_t n) {
                       crypto_generichash_update(
                           &state, static_cast<const uint8_t *>(p), n);
                     });
  crypto_generichash_final(&state, digest, sizeof digest);
  crypto_sign_detached(head.signature, nullptr, digest, sizeof digest, secretKey);
  const uint8_t *p = reinterpret_cast<const uint8_t *>(&head);
  file.insert(file.end(), p, p + sizeof head);
  file.insert(file.end(), hashes.begin(), hashes.end());
}

ArtifactBuilder::ArtifactBuilder(int64_t maxTokens) {
  model.producer = "moert tests";
  model.target = fb::Target::CpuX86_64;
  model.target_arch = "x86-64";
  model.max_tokens = maxTokens;
}

uint32_t ArtifactBuilder::addWeight(const std::string &name, fb::DType dtype,
                                    std::vector<int64_t> shape, const void *data,
                                    size_t bytes) {
  auto w = std::make_unique<fb::WeightT>();
  w->name = name;
  w->dtype = dtype;
  w->shape = std::move(shape);
  w->bytes = bytes;
  model.weights.push_back(std::move(w));
  const uint8_t *p = static_cast<const uint8_t *>(data);
  weightData_.emplace_back(p, p + bytes);
  return static_cast<uint32_t>(model.weights.size() - 1);
}

uint32_t ArtifactBuilder::addWeightF32(const std::string &name,
                                       std::vector<int64_t> shape,
                                       const std::vector<float> &values) {
  return addWeight(name, fb::DType::F32, std::move(shape), values.data(),
                   values.size() * sizeof(float));
}

uint32_t ArtifactBuilder::addWeightPanels(const std::string &name,
                                          std::vector<int64_t> shape,
                                          const std::vector<float> &values) {
  int64_t n = shape[shape.size() - 2], k = shape.back();
  size_t matrices = values.size() / static_cast<size_t>(n * k);
  size_t each = moert::panelElements(n, k);
  std::vector<float> packed(matrices * each);
  for (size_t m = 0; m < matrices; ++m)
    moert::packPanels(values.data() + m * n * k, n, k, packed.data() + m * each);
  uint32_t index = addWeightF32(name, std::move(shape), packed);
  model.weights[index]->layout = fb::WeightLayout::Panels32;
  return index;
}

uint32_t ArtifactBuilder::addWeightI32(const std::string &name,
                                       std::vector<int64_t> shape,
                                       const std::vector<int32_t> &values) {
  return addWeight(name, fb::DType::I32, std::move(shape), values.data(),
                   values.size() * sizeof(int32_t));
}

uint32_t ArtifactBuilder::addCodeObject(Bytes bytes, fb::CodeFormat format) {
  auto c = std::make_unique<fb::CodeObjectT>();
  c->format = format;
  c->arch = "x86-64";
  c->bytes = bytes.size();
  model.code_objects.push_back(std::move(c));
  codeData_.push_back(std::move(bytes));
  return static_cast<uint32_t>(model.code_objects.size() - 1);
}

uint32_t ArtifactBuilder::addKernel(const std::string &name, uint32_t codeObject,
                                    uint32_t numArgs) {
  auto k = std::make_unique<fb::KernelT>();
  k->name = name;
  k->code_object = codeObject;
  k->num_args = numArgs;
  // Bounds that let any launch through (arguments of any size, reads only);
  // a test of the bounds sets them with setKernelBounds.
  k->max_extent = int64_t(1) << 40;
  k->arg_bytes.assign(numArgs, 0);
  model.kernels.push_back(std::move(k));
  return static_cast<uint32_t>(model.kernels.size() - 1);
}

void ArtifactBuilder::setKernelBounds(uint32_t kernel, int64_t maxExtent,
                                      uint64_t writes,
                                      std::vector<uint64_t> argBytes) {
  fb::KernelT &k = *model.kernels[kernel];
  k.max_extent = maxExtent;
  k.writes = writes;
  k.arg_bytes = std::move(argBytes);
}

uint32_t ArtifactBuilder::testKernel(const std::string &name, uint32_t numArgs) {
  if (testCode_ < 0)
    testCode_ = addCodeObject(testKernelsObject());
  return addKernel(name, static_cast<uint32_t>(testCode_), numArgs);
}

FunctionBuilder ArtifactBuilder::function(const std::string &name) {
  auto f = std::make_unique<fb::FunctionT>();
  f->name = name;
  model.functions.push_back(std::move(f));
  return FunctionBuilder(model, *model.functions.back());
}

Bytes ArtifactBuilder::build(const Options &options) {
  // The blob section: weights, then code objects, each 64-byte aligned,
  // with their chunk checksums.
  Bytes blob;
  auto place = [&](const Bytes &data) {
    blob.resize(alignUp(blob.size()), 0);
    uint64_t at = blob.size();
    blob.insert(blob.end(), data.begin(), data.end());
    return at;
  };
  // The chunk checksums of a blob (in expert slices: ChunkLayout's chunks).
  auto sums = [&](const Bytes &data, uint64_t slices = 1) {
    ChunkLayout layout{data.size(), slices > 1 && data.size() % slices == 0 ? slices : 1};
    std::vector<uint64_t> out;
    for (uint64_t i = 0; i < layout.count(); ++i)
      out.push_back(checksum64(data.data() + layout.begin(i), layout.size(i)));
    return out;
  };
  for (size_t i = 0; i < weightData_.size(); ++i) {
    bool synthetic = i < model.weights.size() &&
                     model.weights[i]->init == fb::WeightInit::RandomUniform;
    if (synthetic && !options.keepOffsets) {
      model.weights[i]->offset = model.weights[i]->bytes = 0; // no bytes
      model.weights[i]->checksums.clear();
      continue;
    }
    uint64_t at = place(weightData_[i]);
    if (!options.keepOffsets && i < model.weights.size()) {
      model.weights[i]->offset = at;
      model.weights[i]->bytes = weightData_[i].size();
      model.weights[i]->checksums = sums(weightData_[i], model.weights[i]->expert_slices);
    }
  }
  for (size_t i = 0; i < codeData_.size(); ++i) {
    uint64_t at = place(codeData_[i]);
    if (!options.keepOffsets && i < model.code_objects.size()) {
      model.code_objects[i]->offset = at;
      model.code_objects[i]->bytes = codeData_[i].size();
      model.code_objects[i]->checksums = sums(codeData_[i]);
    }
  }
  blob.resize(alignUp(blob.size()), 0);

  flatbuffers::FlatBufferBuilder fbb;
  fb::FinishModelBuffer(fbb, fb::Model::Pack(fbb, &model));
  const uint8_t *table = fbb.GetBufferPointer();
  uint64_t tableSize = fbb.GetSize();

  FileHeader h{};
  std::memcpy(h.magic, kMagic, sizeof kMagic);
  h.format_version = options.formatVersion;
  h.header_size = sizeof(FileHeader);
  h.blob_offset = sizeof(FileHeader);
  h.blob_size = blob.size();
  h.table_offset = alignUp(h.blob_offset + h.blob_size);
  h.table_size = tableSize;
  h.file_size = h.table_offset + h.table_size;

  Bytes file(h.file_size, 0);
  if (!blob.empty())
    std::memcpy(file.data() + h.blob_offset, blob.data(), blob.size());
  std::memcpy(file.data() + h.table_offset, table, tableSize);
  setHeader(file, h);
  rehash(file);
  return file;
}

uint32_t FunctionBuilder::bufferAt(uint64_t offset, int64_t perToken, int64_t fixed) {
  auto b = std::make_unique<fb::BufferDescT>();
  b->offset = offset;
  b->bytes = std::make_unique<fb::Affine>(perToken, fixed);
  uint64_t end = offset + static_cast<uint64_t>(perToken * model_.max_tokens + fixed);
  f.arena_bytes = std::max<uint64_t>(f.arena_bytes, end);
  f.buffers.push_back(std::move(b));
  return static_cast<uint32_t>(f.buffers.size() - 1);
}

uint32_t FunctionBuilder::buffer(int64_t perToken, int64_t fixed) {
  return bufferAt(alignUp(f.arena_bytes), perToken, fixed);
}

namespace {
std::unique_ptr<fb::TensorDescT> tensorDesc(const std::string &name, fb::DType dtype,
                                            std::vector<int64_t> shape,
                                            uint32_t buffer) {
  auto t = std::make_unique<fb::TensorDescT>();
  t->name = name;
  t->dtype = dtype;
  t->shape = std::move(shape);
  t->buffer = buffer;
  return t;
}

template <typename T> void addCommand(fb::FunctionT &f, T command) {
  auto entry = std::make_unique<fb::CommandEntryT>();
  entry->command.Set(std::move(command));
  f.commands.push_back(std::move(entry));
}
} // namespace

void FunctionBuilder::input(const std::string &name, fb::DType dtype,
                            std::vector<int64_t> shape, uint32_t buffer) {
  f.inputs.push_back(tensorDesc(name, dtype, std::move(shape), buffer));
}

void FunctionBuilder::output(const std::string &name, fb::DType dtype,
                             std::vector<int64_t> shape, uint32_t buffer) {
  f.outputs.push_back(tensorDesc(name, dtype, std::move(shape), buffer));
}

void FunctionBuilder::auxOutput(const std::string &name, fb::DType dtype,
                                std::vector<int64_t> shape, uint32_t buffer) {
  f.aux_outputs.push_back(tensorDesc(name, dtype, std::move(shape), buffer));
}

void FunctionBuilder::launch(uint32_t kernel, std::vector<fb::Ref> args,
                             fb::Affine extent, int64_t grain) {
  fb::LaunchT c;
  c.kernel = kernel;
  c.args = std::move(args);
  c.extent = std::make_unique<fb::Affine>(extent);
  c.grain = grain;
  addCommand(f, std::move(c));
}

void FunctionBuilder::gemm(fb::Ref a, fb::Ref b, fb::Ref c, fb::Affine rows,
                           int64_t n, int64_t k, bool accumulate) {
  fb::GemmT g;
  g.a = std::make_unique<fb::Ref>(a);
  g.b = std::make_unique<fb::Ref>(b);
  g.c = std::make_unique<fb::Ref>(c);
  g.rows = std::make_unique<fb::Affine>(rows);
  g.n = n;
  g.k = k;
  g.accumulate = accumulate;
  addCommand(f, std::move(g));
}

void FunctionBuilder::groupedGemm(fb::Ref a, fb::Ref b, fb::Ref c, fb::Ref offsets,
                                  fb::Affine rows, int64_t experts, int64_t n,
                                  int64_t k) {
  fb::GroupedGemmT g;
  g.a = std::make_unique<fb::Ref>(a);
  g.b = std::make_unique<fb::Ref>(b);
  g.c = std::make_unique<fb::Ref>(c);
  g.offsets = std::make_unique<fb::Ref>(offsets);
  g.rows = std::make_unique<fb::Affine>(rows);
  g.experts = experts;
  g.n = n;
  g.k = k;
  addCommand(f, std::move(g));
}

void FunctionBuilder::groupedGemmMapped(fb::Ref a, fb::Ref b, fb::Ref c, fb::Ref offsets,
                                        fb::Ref map, fb::Affine rows, int64_t experts,
                                        int64_t n, int64_t k) {
  fb::GroupedGemmT g;
  g.a = std::make_unique<fb::Ref>(a);
  g.b = std::make_unique<fb::Ref>(b);
  g.c = std::make_unique<fb::Ref>(c);
  g.offsets = std::make_unique<fb::Ref>(offsets);
  g.map = std::make_unique<fb::Ref>(map);
  g.has_map = true;
  g.rows = std::make_unique<fb::Affine>(rows);
  g.experts = experts;
  g.n = n;
  g.k = k;
  addCommand(f, std::move(g));
}

void FunctionBuilder::exchange(const Exchange &x) {
  fb::ExchangeT c;
  c.src = std::make_unique<fb::Ref>(x.src);
  c.offsets = std::make_unique<fb::Ref>(x.offsets);
  c.slot_offsets = std::make_unique<fb::Ref>(x.slotOffsets);
  c.slot_experts = std::make_unique<fb::Ref>(x.slotExperts);
  c.counts = std::make_unique<fb::Ref>(x.counts);
  c.dst = std::make_unique<fb::Ref>(x.dst);
  c.rows = std::make_unique<fb::Affine>(x.rows);
  c.row_bytes = x.rowBytes;
  c.recv_rows = x.recvRows;
  c.ranks = x.ranks;
  c.slots = x.slots;
  c.experts = x.experts;
  c.back = x.back;
  addCommand(f, std::move(c));
}

void FunctionBuilder::fill(fb::Ref dst, fb::Affine bytes, uint32_t value) {
  fb::FillT c;
  c.dst = std::make_unique<fb::Ref>(dst);
  c.bytes = std::make_unique<fb::Affine>(bytes);
  c.value = value;
  addCommand(f, std::move(c));
}

void FunctionBuilder::copy(fb::Ref src, fb::Ref dst, fb::Affine bytes) {
  fb::CopyT c;
  c.src = std::make_unique<fb::Ref>(src);
  c.dst = std::make_unique<fb::Ref>(dst);
  c.bytes = std::make_unique<fb::Affine>(bytes);
  addCommand(f, std::move(c));
}

} // namespace moert::test
