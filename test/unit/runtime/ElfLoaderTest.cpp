//===- ElfLoaderTest.cpp - the runtime's own ELF loader (CodeObject.h) ----===//
//
// Loads the shared objects built from elf/*.c (MOERT_ELF_FIXTURE_DIR): a
// valid kernel object, linked as moe-compile links its own, must load, keep
// W^X and RELRO, resolve its kernels and compute the right values; hostile
// ones (constructors, DT_NEEDED, TLS, imports off the allow-list, W+X, ...)
// and damaged bytes must be refused with a status, never a crash.
//
//===----------------------------------------------------------------------===//
#include "CodeObject.h"

#include <gtest/gtest.h>

#include <elf.h>

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <unistd.h>
#include <vector>

#ifndef MOERT_ELF_FIXTURE_DIR
#error "MOERT_ELF_FIXTURE_DIR must name the directory of the built fixtures"
#endif

using moert::rt::KernelFn;
using moert::rt::LoadedCode;
using moert::rt::Status;

namespace {

using Bytes = std::vector<uint8_t>;

/// The bytes of fixture `name` (elf/NAME.so in the build tree).
Bytes fixture(const std::string &name) {
  std::string path = std::string(MOERT_ELF_FIXTURE_DIR) + "/" + name + ".so";
  std::ifstream f(path, std::ios::binary);
  Bytes bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  if (bytes.empty())
    ADD_FAILURE() << "cannot read the fixture " << path;
  return bytes;
}

/// Loads `bytes` as code object 0 from an exactly-sized heap copy (so that
/// AddressSanitizer sees any read past the end).
Status load(const Bytes &bytes, std::shared_ptr<LoadedCode> *code = nullptr) {
  std::unique_ptr<uint8_t[]> copy(new uint8_t[bytes.empty() ? 1 : bytes.size()]);
  if (!bytes.empty())
    std::memcpy(copy.get(), bytes.data(), bytes.size());
  std::shared_ptr<LoadedCode> local;
  Status s = LoadedCode::load(copy.get(), bytes.size(), 0, code ? code : &local);
  return s;
}

/// Expects `bytes` to be refused with `code` and a message containing `text`.
void expectRefused(const Bytes &bytes, moert_status_code_t code,
                   const std::string &text) {
  std::shared_ptr<LoadedCode> loaded;
  Status s = load(bytes, &loaded);
  ASSERT_FALSE(s.ok()) << "loaded, but should be refused with: " << text;
  EXPECT_EQ(s.code(), code) << s.message();
  EXPECT_NE(s.message().find(text), std::string::npos)
      << "message: " << s.message() << "\nexpected to contain: " << text;
  EXPECT_TRUE(loaded == nullptr);
}

// --- reading and patching a (trusted) fixture's ELF structures ------------

template <typename T> T get(const Bytes &b, size_t off) {
  T v;
  std::memcpy(&v, b.data() + off, sizeof(T));
  return v;
}
template <typename T> void put(Bytes &b, size_t off, const T &v) {
  std::memcpy(b.data() + off, &v, sizeof(T));
}

Elf64_Ehdr header(const Bytes &b) { return get<Elf64_Ehdr>(b, 0); }

size_t phdrOffset(const Bytes &b, unsigned i) {
  return header(b).e_phoff + size_t(i) * sizeof(Elf64_Phdr);
}
Elf64_Phdr phdr(const Bytes &b, unsigned i) {
  return get<Elf64_Phdr>(b, phdrOffset(b, i));
}

/// The index of the first program header of `type` whose flags include
/// `flags`; -1 if none.
int findPhdr(const Bytes &b, uint32_t type, uint32_t flags = 0) {
  for (unsigned i = 0; i < header(b).e_phnum; ++i) {
    Elf64_Phdr p = phdr(b, i);
    if (p.p_type == type && (p.p_flags & flags) == flags)
      return int(i);
  }
  return -1;
}

/// The index of the last PT_LOAD (the highest addresses).
int lastLoad(const Bytes &b) {
  int last = -1;
  for (unsigned i = 0; i < header(b).e_phnum; ++i)
    if (phdr(b, i).p_type == PT_LOAD)
      last = int(i);
  return last;
}

/// The file offset of address `vaddr` (inside a PT_LOAD's file bytes).
size_t fileOffset(const Bytes &b, uint64_t vaddr) {
  for (unsigned i = 0; i < header(b).e_phnum; ++i) {
    Elf64_Phdr p = phdr(b, i);
    if (p.p_type == PT_LOAD && vaddr >= p.p_vaddr && vaddr < p.p_vaddr + p.p_filesz)
      return p.p_offset + (vaddr - p.p_vaddr);
  }
  ADD_FAILURE() << "address " << vaddr << " is not in the file";
  return 0;
}

/// The file offset of the dynamic entry with `tag`; 0 if none.
size_t dynamicEntry(const Bytes &b, int64_t tag) {
  int d = findPhdr(b, PT_DYNAMIC);
  if (d < 0)
    return 0;
  Elf64_Phdr p = phdr(b, unsigned(d));
  for (size_t off = p.p_offset; off + sizeof(Elf64_Dyn) <= p.p_offset + p.p_filesz;
       off += sizeof(Elf64_Dyn)) {
    Elf64_Dyn e = get<Elf64_Dyn>(b, off);
    if (e.d_tag == tag)
      return off;
    if (e.d_tag == DT_NULL)
      break;
  }
  return 0;
}

/// Replaces the dynamic entry `from` (which must exist) by {tag, value}.
void retag(Bytes &b, int64_t from, int64_t tag, uint64_t value) {
  size_t off = dynamicEntry(b, from);
  ASSERT_NE(off, 0u) << "no dynamic tag " << from;
  Elf64_Dyn e;
  e.d_tag = tag;
  e.d_un.d_val = value;
  put(b, off, e);
}

/// The file offset of the first PLT relocation (DT_JMPREL).
size_t firstPltRelocation(const Bytes &b) {
  size_t d = dynamicEntry(b, DT_JMPREL);
  EXPECT_NE(d, 0u);
  return d ? fileOffset(b, get<Elf64_Dyn>(b, d).d_un.d_ptr) : 0;
}

// --- the process's mappings ---------------------------------------------

struct Mapping {
  uintptr_t begin, end;
  std::string perms;
};

/// The mappings that overlap [begin, end).
std::vector<Mapping> mappings(uintptr_t begin, uintptr_t end) {
  std::vector<Mapping> out;
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    std::istringstream is(line);
    std::string addrs, perms;
    is >> addrs >> perms;
    size_t dash = addrs.find('-');
    uintptr_t lo = std::stoull(addrs.substr(0, dash), nullptr, 16);
    uintptr_t hi = std::stoull(addrs.substr(dash + 1), nullptr, 16);
    if (hi > begin && lo < end)
      out.push_back({lo, hi, perms});
  }
  return out;
}

std::string permsAt(uintptr_t address) {
  std::vector<Mapping> m = mappings(address, address + 1);
  return m.empty() ? "unmapped" : m.front().perms;
}

/// Iterations of the corruption test: `fallback`, or MOERT_TEST_ITERATIONS.
int iterations(int fallback) {
  const char *env = std::getenv("MOERT_TEST_ITERATIONS");
  int n = env ? std::atoi(env) : 0;
  return n > 0 ? n : fallback;
}

/// Runs fixture kernel `k` (see elf/kernel.c) over [b, e) of 16 elements.
void runK(KernelFn k, std::vector<float> &x, std::vector<float> &y,
          std::vector<uint8_t> &z, long count[2], long b, long e) {
  void *args[4] = {x.data(), y.data(), z.data(), count};
  k(args, 16, b, e);
}

std::vector<float> inputs() {
  std::vector<float> x(16);
  for (int i = 0; i < 16; ++i)
    x[i] = -3.0f + 0.375f * float(i);
  return x;
}

// --- the valid object ------------------------------------------------------

void checkKernelObject(const std::string &name) {
  SCOPED_TRACE(name);
  Bytes bytes = fixture(name);
  ASSERT_FALSE(bytes.empty());
  std::shared_ptr<LoadedCode> code;
  Status s = load(bytes, &code);
  ASSERT_TRUE(s.ok()) << s.message();
  EXPECT_STREQ(code->method(), "own-loader");

  KernelFn k = nullptr, table = nullptr;
  ASSERT_TRUE(code->resolve("k", &k).ok());
  ASSERT_TRUE(code->resolve("k_table", &table).ok());
  uintptr_t base = reinterpret_cast<uintptr_t>(code->imageBase());
  EXPECT_GE(reinterpret_cast<uintptr_t>(k), base);
  EXPECT_LT(reinterpret_cast<uintptr_t>(k), base + code->imageSize());

  // k: expf through the PLT, memset, a .bss counter, RELATIVE pointers.
  std::vector<float> x = inputs(), y(16, 0.0f);
  std::vector<uint8_t> z(16, 0);
  long count[2] = {0, 0};
  runK(k, x, y, z, count, 0, 5);
  EXPECT_EQ(count[0], 1);
  EXPECT_EQ(count[1], 'e');
  runK(k, x, y, z, count, 5, 16);
  EXPECT_EQ(count[0], 2);
  EXPECT_EQ(count[1], 'l');
  for (int i = 0; i < 16; ++i) {
    EXPECT_FLOAT_EQ(y[i], std::exp(x[i])) << i;
    EXPECT_EQ(z[i], 0x5a) << i;
  }

  // k_table: expf and logf through R_X86_64_64, a local function through
  // R_X86_64_RELATIVE (or DT_RELR).
  for (int sel = 0; sel < 3; ++sel) {
    std::vector<float> in(16), out(16, 0.0f);
    for (int i = 0; i < 16; ++i)
      in[i] = 0.25f + 0.5f * float(i);
    void *args[3] = {in.data(), out.data(), &sel};
    table(args, 16, 0, 16);
    for (int i = 0; i < 16; ++i) {
      float want = sel == 0 ? std::exp(in[i]) : sel == 1 ? std::log(in[i]) : 2.0f * in[i];
      EXPECT_FLOAT_EQ(out[i], want) << "sel " << sel << ", element " << i;
    }
  }
}

TEST(ElfLoader, LoadsResolvesAndRunsAKernelObject) { checkKernelObject("kernel"); }

TEST(ElfLoader, LoadsAnObjectWithOnlyAGnuHashTable) {
  Bytes b = fixture("kernel_gnuhash");
  ASSERT_FALSE(b.empty());
  EXPECT_EQ(dynamicEntry(b, DT_HASH), 0u) << "the fixture has DT_HASH after all";
  EXPECT_NE(dynamicEntry(b, DT_GNU_HASH), 0u);
  checkKernelObject("kernel_gnuhash");
}

TEST(ElfLoader, LoadsAnObjectWithPackedRelativeRelocations) {
#ifndef MOERT_ELF_HAVE_RELR
  GTEST_SKIP() << "the linker cannot write DT_RELR (-z pack-relative-relocs)";
#else
  Bytes b = fixture("kernel_relr");
  ASSERT_FALSE(b.empty());
  if (dynamicEntry(b, 36 /*DT_RELR*/) == 0)
    GTEST_SKIP() << "the linker accepted -z pack-relative-relocs but wrote no DT_RELR";
  checkKernelObject("kernel_relr");
#endif
}

TEST(ElfLoader, SegmentsGetExactlyTheirPermissions) {
  Bytes bytes = fixture("kernel");
  ASSERT_FALSE(bytes.empty());
  size_t before = LoadedCode::loadedCount();
  std::shared_ptr<LoadedCode> code;
  ASSERT_TRUE(load(bytes, &code).ok());
  EXPECT_EQ(LoadedCode::loadedCount(), before + 1);
  uintptr_t base = reinterpret_cast<uintptr_t>(code->imageBase());
  const uint64_t page = uint64_t(sysconf(_SC_PAGESIZE));
  uint64_t low = ~uint64_t(0);
  for (unsigned i = 0; i < header(bytes).e_phnum; ++i)
    if (phdr(bytes, i).p_type == PT_LOAD)
      low = std::min<uint64_t>(low, phdr(bytes, i).p_vaddr & ~(page - 1));

  // Nothing writable and executable; some code executable.
  int executable = 0;
  for (const Mapping &m : mappings(base, base + code->imageSize())) {
    EXPECT_FALSE(m.perms[1] == 'w' && m.perms[2] == 'x')
        << "a writable and executable mapping: " << std::hex << m.begin << "-" << m.end;
    executable += m.perms[2] == 'x';
  }
  EXPECT_GT(executable, 0);

  // Each PT_LOAD's pages have exactly its flags (RELRO aside).
  int relro = findPhdr(bytes, PT_GNU_RELRO);
  uint64_t relroBegin = 0, relroEnd = 0;
  if (relro >= 0) {
    Elf64_Phdr r = phdr(bytes, unsigned(relro));
    relroBegin = r.p_vaddr & ~(page - 1);
    relroEnd = (r.p_vaddr + r.p_memsz) & ~(page - 1);
  }
  for (unsigned i = 0; i < header(bytes).e_phnum; ++i) {
    Elf64_Phdr p = phdr(bytes, i);
    if (p.p_type != PT_LOAD || p.p_memsz == 0)
      continue;
    for (uint64_t a = p.p_vaddr & ~(page - 1); a < p.p_vaddr + p.p_memsz; a += page) {
      std::string want = std::string(p.p_flags & PF_R ? "r" : "-") +
                         (p.p_flags & PF_W ? "w" : "-") + (p.p_flags & PF_X ? "x" : "-");
      if (a >= relroBegin && a < relroEnd)
        want = "r--";
      EXPECT_EQ(permsAt(base + (a - low)).substr(0, 3), want)
          << "segment " << i << ", page at " << std::hex << a;
    }
  }
  ASSERT_GE(relro, 0) << "the fixture has no PT_GNU_RELRO";
  EXPECT_LT(relroBegin, relroEnd) << "the fixture's RELRO covers no whole page";

  code.reset();
  EXPECT_EQ(LoadedCode::loadedCount(), before);
}

TEST(ElfLoader, CopiesAreIndependent) {
  Bytes bytes = fixture("kernel");
  ASSERT_FALSE(bytes.empty());
  std::shared_ptr<LoadedCode> a, b;
  ASSERT_TRUE(load(bytes, &a).ok());
  ASSERT_TRUE(load(bytes, &b).ok());
  EXPECT_NE(a->imageBase(), b->imageBase());
  KernelFn ka, kb;
  ASSERT_TRUE(a->resolve("k", &ka).ok());
  ASSERT_TRUE(b->resolve("k", &kb).ok());
  std::vector<float> x = inputs(), y(16);
  std::vector<uint8_t> z(16);
  long count[2];
  runK(ka, x, y, z, count, 0, 16);
  runK(ka, x, y, z, count, 0, 16);
  EXPECT_EQ(count[0], 2);
  a.reset(); // b's image stays
  runK(kb, x, y, z, count, 0, 16);
  EXPECT_EQ(count[0], 1) << "the copies share their .bss";
}

TEST(ElfLoader, ResolvesOnlyExportedFunctions) {
  Bytes bytes = fixture("kernel");
  ASSERT_FALSE(bytes.empty());
  std::shared_ptr<LoadedCode> code;
  ASSERT_TRUE(load(bytes, &code).ok());
  for (const char *name : {"hidden_k", "not_a_function", "expf", "memset", "",
                           "twice", "k_"}) {
    KernelFn fn = nullptr;
    Status s = code->resolve(name, &fn);
    EXPECT_FALSE(s.ok()) << name;
    EXPECT_EQ(s.code(), MOERT_LOAD_ERROR) << name;
    EXPECT_NE(s.message().find("kernel '" + std::string(name) +
                               "' is not defined in code object 0"),
              std::string::npos)
        << s.message();
    EXPECT_EQ(fn, nullptr);
  }
}

TEST(ElfLoader, ResolvesReadOnlyConstants) {
  Bytes bytes = fixture("kernel");
  ASSERT_FALSE(bytes.empty());
  std::shared_ptr<LoadedCode> code;
  ASSERT_TRUE(load(bytes, &code).ok());
  uintptr_t base = reinterpret_cast<uintptr_t>(code->imageBase());

  // In .rodata, under a name with a dot.
  const void *data = nullptr;
  uint64_t size = 0;
  Status s = code->resolveConstant("moec_bounds.k", &data, &size);
  ASSERT_TRUE(s.ok()) << s.message();
  ASSERT_EQ(size, 3 * sizeof(long));
  const long *bounds = static_cast<const long *>(data);
  EXPECT_EQ(bounds[0], 16);
  EXPECT_EQ(bounds[1], 5);
  EXPECT_EQ(bounds[2], 64);
  EXPECT_EQ(permsAt(reinterpret_cast<uintptr_t>(data)).substr(0, 2), "r-");

  // In RELRO: relocated to point into the image, then read-only.
  s = code->resolveConstant("fixture_greeting", &data, &size);
  ASSERT_TRUE(s.ok()) << s.message();
  ASSERT_EQ(size, sizeof(const char *));
  const char *greeting = *static_cast<const char *const *>(data);
  EXPECT_GE(reinterpret_cast<uintptr_t>(greeting), base);
  EXPECT_LT(reinterpret_cast<uintptr_t>(greeting), base + code->imageSize());
  EXPECT_STREQ(greeting, "moert");
  EXPECT_EQ(permsAt(reinterpret_cast<uintptr_t>(data)).substr(0, 3), "r--");

  struct Case {
    const char *name, *why;
  };
  for (const Case &c : {Case{"not_a_function", "do not lie in read-only memory"},
                        Case{"k", "is not an exported data object"},
                        Case{"memset", ""}, Case{"moec_bounds.q", ""}}) {
    s = code->resolveConstant(c.name, &data, &size);
    EXPECT_FALSE(s.ok()) << c.name;
    EXPECT_EQ(s.code(), MOERT_LOAD_ERROR);
    EXPECT_NE(s.message().find("constant '" + std::string(c.name) +
                               "' is not defined in code object 0"),
              std::string::npos)
        << s.message();
    EXPECT_NE(s.message().find(c.why), std::string::npos) << s.message();
  }
}

// --- hostile objects -------------------------------------------------------

TEST(ElfLoader, RefusesConstructorsAndDestructors) {
  expectRefused(fixture("ctor"), MOERT_LOAD_ERROR,
                "code object 0 has an initializer/constructor (DT_INIT_ARRAY), "
                "which the runtime refuses to run");
  expectRefused(fixture("dtor"), MOERT_LOAD_ERROR,
                "code object 0 has a finalizer/destructor (DT_FINI_ARRAY), "
                "which the runtime refuses to run");
  // DT_INIT, DT_FINI and DT_PREINIT_ARRAY patched into the valid object.
  Bytes b = fixture("kernel");
  ASSERT_FALSE(b.empty());
  Bytes init = b, fini = b, preinit = b;
  retag(init, DT_PLTGOT, DT_INIT, 0x1040);
  expectRefused(init, MOERT_LOAD_ERROR, "has an initializer/constructor (DT_INIT),");
  retag(fini, DT_PLTGOT, DT_FINI, 0x1040);
  expectRefused(fini, MOERT_LOAD_ERROR, "has a finalizer/destructor (DT_FINI),");
  retag(preinit, DT_PLTGOT, DT_PREINIT_ARRAYSZ, 8);
  expectRefused(preinit, MOERT_LOAD_ERROR,
                "has an initializer/constructor (DT_PREINIT_ARRAY)");
  // An empty array is no constructor.
  Bytes empty = b;
  retag(empty, DT_PLTGOT, DT_INIT_ARRAYSZ, 0);
  EXPECT_TRUE(load(empty).ok());
}

TEST(ElfLoader, RefusesLibraries) {
  expectRefused(fixture("needed"), MOERT_LOAD_ERROR,
                "code object 0 needs the shared library 'libm.so");
  expectRefused(fixture("needed"), MOERT_LOAD_ERROR, "(DT_NEEDED)");
}

TEST(ElfLoader, RefusesThreadLocalStorage) {
  expectRefused(fixture("tls"), MOERT_LOAD_ERROR, "of type PT_TLS");
}

TEST(ElfLoader, RefusesImportsOffTheAllowList) {
  expectRefused(fixture("system"), MOERT_LOAD_ERROR,
                "code object 0 imports 'system', which is not on the runtime's "
                "allow-list (libm and memset/memcpy/memmove)");
  expectRefused(fixture("weak"), MOERT_LOAD_ERROR,
                "code object 0 imports 'moert_fixture_missing', which is not on "
                "the runtime's allow-list");
}

TEST(ElfLoader, RefusesIndirectFunctions) {
  expectRefused(fixture("ifunc"), MOERT_LOAD_ERROR, "R_X86_64_IRELATIVE");
}

TEST(ElfLoader, RefusesWritableAndExecutableMemory) {
  expectRefused(fixture("wx"), MOERT_LOAD_ERROR,
                "both writable and executable");
  expectRefused(fixture("execstack"), MOERT_LOAD_ERROR, "executable stack");
  Bytes b = fixture("kernel");
  ASSERT_FALSE(b.empty());
  int text = findPhdr(b, PT_LOAD, PF_X);
  ASSERT_GE(text, 0);
  Elf64_Phdr p = phdr(b, unsigned(text));
  p.p_flags |= PF_W;
  put(b, phdrOffset(b, unsigned(text)), p);
  expectRefused(b, MOERT_LOAD_ERROR, "both writable and executable");
}

TEST(ElfLoader, RefusesTextRelocations) {
  expectRefused(fixture("textrel"), MOERT_LOAD_ERROR, "text relocations (DT_TEXTREL)");
}

TEST(ElfLoader, RefusesProgramHeadersItDoesNotKnow) {
  Bytes b = fixture("kernel");
  ASSERT_FALSE(b.empty());
  int note = findPhdr(b, PT_NOTE);
  ASSERT_GE(note, 0);
  for (uint32_t type : {uint32_t(PT_INTERP), uint32_t(PT_SHLIB), 0x60000123u}) {
    Bytes c = b;
    Elf64_Phdr p = phdr(c, unsigned(note));
    p.p_type = type;
    put(c, phdrOffset(c, unsigned(note)), p);
    expectRefused(c, MOERT_LOAD_ERROR,
                  type == PT_INTERP ? "of type PT_INTERP"
                  : type == PT_SHLIB ? "of type PT_SHLIB"
                                     : "of type 0x60000123 (unknown)");
  }
}

TEST(ElfLoader, RefusesDynamicTagsItDoesNotKnow) {
  Bytes b = fixture("kernel");
  ASSERT_FALSE(b.empty());
  Bytes rel = b, pltrel = b, audit = b, unknown = b;
  retag(rel, DT_PLTGOT, DT_REL, 0x200);
  expectRefused(rel, MOERT_LOAD_ERROR, "only RELA relocations");
  retag(pltrel, DT_PLTREL, DT_PLTREL, DT_REL);
  expectRefused(pltrel, MOERT_LOAD_ERROR, "only RELA relocations");
  retag(audit, DT_PLTGOT, DT_AUDIT, 1);
  expectRefused(audit, MOERT_LOAD_ERROR, "the dynamic tag DT_AUDIT (0x6ffffefc)");
  retag(unknown, DT_PLTGOT, 0x6ffffe00, 1);
  expectRefused(unknown, MOERT_LOAD_ERROR, "the dynamic tag 0x6ffffe00,");
}

TEST(ElfLoader, RefusesRelocationsItDoesNotSupport) {
  Bytes b = fixture("kernel");
  ASSERT_FALSE(b.empty());
  size_t r = firstPltRelocation(b);
  ASSERT_NE(r, 0u);
  Elf64_Rela rela = get<Elf64_Rela>(b, r);

  Bytes pc32 = b;
  Elf64_Rela e = rela;
  e.r_info = ELF64_R_INFO(ELF64_R_SYM(rela.r_info), R_X86_64_PC32);
  put(pc32, r, e);
  expectRefused(pc32, MOERT_LOAD_ERROR, "of type R_X86_64_PC32 (2)");

  Bytes copy = b;
  e.r_info = ELF64_R_INFO(ELF64_R_SYM(rela.r_info), R_X86_64_COPY);
  put(copy, r, e);
  expectRefused(copy, MOERT_LOAD_ERROR, "R_X86_64_COPY (5)");

  // A write into the code.
  Bytes intoText = b;
  e = rela;
  e.r_offset = phdr(b, unsigned(findPhdr(b, PT_LOAD, PF_X))).p_vaddr;
  put(intoText, r, e);
  expectRefused(intoText, MOERT_LOAD_ERROR, "outside its writable segments");

  // A symbol past the table's end.
  Bytes badSymbol = b;
  e = rela;
  e.r_info = ELF64_R_INFO(1000, ELF64_R_TYPE(rela.r_info));
  put(badSymbol, r, e);
  expectRefused(badSymbol, MOERT_INVALID_ARTIFACT, "names symbol 1000");
}

// --- damaged objects ---------------------------------------------------------

TEST(ElfLoader, RefusesDamagedHeaders) {
  Bytes b = fixture("kernel");
  ASSERT_FALSE(b.empty());
  expectRefused(Bytes(b.begin(), b.begin() + 63), MOERT_INVALID_ARTIFACT,
                "code object 0 is 63 bytes, too small for an ELF header");
  Bytes exec = b;
  put<uint16_t>(exec, offsetof(Elf64_Ehdr, e_type), ET_EXEC);
  expectRefused(exec, MOERT_INVALID_ARTIFACT, "is not an ELF shared object (e_type 2)");
  Bytes phoff = b;
  put<uint64_t>(phoff, offsetof(Elf64_Ehdr, e_phoff), b.size() - 8);
  expectRefused(phoff, MOERT_INVALID_ARTIFACT, "the program headers [");
  Bytes phentsize = b;
  put<uint16_t>(phentsize, offsetof(Elf64_Ehdr, e_phentsize), 48);
  expectRefused(phentsize, MOERT_INVALID_ARTIFACT, "e_phentsize is 48, not 56");

  int text = findPhdr(b, PT_LOAD, PF_X);
  ASSERT_GE(text, 0);
  Bytes filesz = b;
  Elf64_Phdr p = phdr(b, unsigned(text));
  p.p_filesz = uint64_t(1) << 40;
  p.p_memsz = p.p_filesz;
  put(filesz, phdrOffset(b, unsigned(text)), p);
  expectRefused(filesz, MOERT_INVALID_ARTIFACT, "lie outside the");
  Bytes wrap = b;
  p = phdr(b, unsigned(text));
  p.p_vaddr = ~uint64_t(0) - 16;
  put(wrap, phdrOffset(b, unsigned(text)), p);
  expectRefused(wrap, MOERT_INVALID_ARTIFACT, "overflow the address space");
  int first = findPhdr(b, PT_LOAD), data = lastLoad(b);
  ASSERT_NE(first, data);
  Bytes overlap = b;
  p = phdr(b, unsigned(data));
  p.p_vaddr = phdr(b, unsigned(first)).p_vaddr; // onto the first PT_LOAD's page
  put(overlap, phdrOffset(b, unsigned(data)), p);
  expectRefused(overlap, MOERT_INVALID_ARTIFACT, "overlaps or shares a page");
  Bytes huge = b;
  p = phdr(b, unsigned(data));
  p.p_memsz = uint64_t(1) << 36;
  put(huge, phdrOffset(b, unsigned(data)), p);
  expectRefused(huge, MOERT_LOAD_ERROR, "bytes of address space");

  Bytes strsz = b;
  retag(strsz, DT_STRSZ, DT_STRSZ, uint64_t(1) << 32);
  expectRefused(strsz, MOERT_INVALID_ARTIFACT, "the string table [");
  Bytes symtab = b;
  retag(symtab, DT_SYMTAB, DT_SYMTAB, 0x7fff0000);
  expectRefused(symtab, MOERT_INVALID_ARTIFACT, "the symbol table [");
  Bytes nosym = b;
  retag(nosym, DT_SYMTAB, DT_DEBUG, 0);
  expectRefused(nosym, MOERT_INVALID_ARTIFACT, "no symbol table");
}

TEST(ElfLoader, SurvivesTruncationAndCorruption) {
  for (const char *name : {"kernel", "kernel_gnuhash"}) {
    Bytes b = fixture(name);
    ASSERT_FALSE(b.empty());
    auto check = [&](const Bytes &bytes) {
      std::shared_ptr<LoadedCode> code;
      Status s = load(bytes, &code);
      if (s.ok()) { // a harmless change: resolve, but call nothing
        KernelFn fn;
        (void)code->resolve("k", &fn);
        (void)code->resolve("k_table", &fn);
        return;
      }
      EXPECT_TRUE(s.code() == MOERT_INVALID_ARTIFACT || s.code() == MOERT_LOAD_ERROR)
          << s.message();
      EXPECT_EQ(s.message().rfind("code object 0", 0), 0u) << s.message();
    };
    // Every prefix in the headers and tables, then a sample of the rest.
    for (size_t n = 0; n < b.size(); n += n < 0x1000 ? 1 : 61)
      check(Bytes(b.begin(), b.begin() + n));
    // Random bytes in the parts the loader reads: headers, hash, symbol,
    // string and relocation tables (the first page), and the dynamic section.
    int dyn = findPhdr(b, PT_DYNAMIC);
    ASSERT_GE(dyn, 0);
    size_t dynBegin = phdr(b, unsigned(dyn)).p_offset;
    size_t dynSize = phdr(b, unsigned(dyn)).p_filesz;
    std::mt19937 rng(2024);
    for (int it = 0, n = iterations(2000); it < n; ++it) {
      Bytes c = b;
      int edits = 1 + int(rng() % 4);
      for (int e = 0; e < edits; ++e) {
        size_t pos = rng() % 2 ? rng() % std::min<size_t>(c.size(), 0x1000)
                               : dynBegin + rng() % dynSize;
        if (rng() % 3 == 0)
          c[pos] ^= uint8_t(1u << (rng() % 8));
        else
          c[pos] = uint8_t(rng());
      }
      check(c);
    }
  }
}

} // namespace
