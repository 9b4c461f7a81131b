//===- CodeObject.cpp - the runtime's own ELF loader ------------------------===//
//
// Loads a HostSharedObject code object without dlopen; the rules are in
// CodeObject.h. Everything is parsed from the artifact's bytes and checked
// before anything is mapped; then the image is reserved, filled, relocated
// and protected. Nothing in the object runs here.
//
//===----------------------------------------------------------------------===//
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "CodeObject.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <elf.h>
#include <iomanip>
#include <math.h>
#include <sstream>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

// Newer than some systems' <elf.h>.
#ifndef PT_GNU_PROPERTY
#define PT_GNU_PROPERTY 0x6474e553
#endif
#ifndef PT_GNU_SFRAME
#define PT_GNU_SFRAME 0x6474e554
#endif
#ifndef DT_RELRSZ
#define DT_RELRSZ 35
#define DT_RELR 36
#define DT_RELRENT 37
#endif
#ifndef DT_X86_64_PLT
#define DT_X86_64_PLT 0x70000000
#define DT_X86_64_PLTSZ 0x70000001
#define DT_X86_64_PLTENT 0x70000003
#endif
#ifndef PR_SET_VMA
#define PR_SET_VMA 0x53564d41
#define PR_SET_VMA_ANON_NAME 0
#endif

namespace moert::rt {

namespace {

constexpr uint64_t kMaxImageSpan = uint64_t(1) << 30; // 1 GiB
constexpr uint64_t kMaxSegmentAlign = uint64_t(2) << 20; // 2 MiB

std::atomic<size_t> gLoadedCount{0};

template <typename T> T readAt(const uint8_t *p) {
  T value;
  std::memcpy(&value, p, sizeof(T));
  return value;
}

std::string hex(uint64_t v) {
  std::ostringstream os;
  os << "0x" << std::hex << v;
  return os.str();
}

/// [begin, begin + size) as text ("[0x10, 0x20)"); saturates on overflow.
std::string range(uint64_t begin, uint64_t size) {
  uint64_t end;
  if (__builtin_add_overflow(begin, size, &end))
    end = UINT64_MAX;
  return "[" + hex(begin) + ", " + hex(end) + ")";
}

uint64_t pageSize() {
  static const uint64_t page = [] {
    long p = ::sysconf(_SC_PAGESIZE);
    return p > 0 && (p & (p - 1)) == 0 ? uint64_t(p) : uint64_t(4096);
  }();
  return page;
}

bool isPowerOfTwo(uint64_t v) { return v != 0 && (v & (v - 1)) == 0; }
uint64_t alignDown(uint64_t v, uint64_t a) { return v & ~(a - 1); }
/// Rounds `v` up to a multiple of `a` (a power of two); false on overflow.
bool alignUp(uint64_t v, uint64_t a, uint64_t *out) {
  uint64_t t;
  if (__builtin_add_overflow(v, a - 1, &t))
    return false;
  *out = t & ~(a - 1);
  return true;
}

std::string segmentTypeName(uint32_t type) {
  switch (type) {
  case PT_NULL: return "PT_NULL";
  case PT_LOAD: return "PT_LOAD";
  case PT_DYNAMIC: return "PT_DYNAMIC";
  case PT_INTERP: return "PT_INTERP (a program interpreter)";
  case PT_NOTE: return "PT_NOTE";
  case PT_SHLIB: return "PT_SHLIB";
  case PT_PHDR: return "PT_PHDR";
  case PT_TLS: return "PT_TLS (thread-local storage)";
  case PT_GNU_EH_FRAME: return "PT_GNU_EH_FRAME";
  case PT_GNU_STACK: return "PT_GNU_STACK";
  case PT_GNU_RELRO: return "PT_GNU_RELRO";
  case PT_GNU_PROPERTY: return "PT_GNU_PROPERTY";
  case PT_GNU_SFRAME: return "PT_GNU_SFRAME";
  default: return hex(type) + " (unknown)";
  }
}

const char *dynamicTagName(int64_t tag) {
  switch (tag) {
  case DT_NEEDED: return "DT_NEEDED";
  case DT_INIT: return "DT_INIT";
  case DT_FINI: return "DT_FINI";
  case DT_INIT_ARRAY: return "DT_INIT_ARRAY";
  case DT_FINI_ARRAY: return "DT_FINI_ARRAY";
  case DT_PREINIT_ARRAY: return "DT_PREINIT_ARRAY";
  case DT_TEXTREL: return "DT_TEXTREL";
  case DT_REL: return "DT_REL";
  case DT_AUXILIARY: return "DT_AUXILIARY";
  case DT_FILTER: return "DT_FILTER";
  case DT_AUDIT: return "DT_AUDIT";
  case DT_DEPAUDIT: return "DT_DEPAUDIT";
  case DT_TLSDESC_PLT: return "DT_TLSDESC_PLT";
  case DT_TLSDESC_GOT: return "DT_TLSDESC_GOT";
  case DT_GNU_CONFLICT: return "DT_GNU_CONFLICT";
  case DT_GNU_LIBLIST: return "DT_GNU_LIBLIST";
  case DT_CONFIG: return "DT_CONFIG";
  case DT_MOVETAB: return "DT_MOVETAB";
  default: return nullptr;
  }
}

std::string relocationTypeName(uint32_t type) {
  static const char *const names[] = {
      "NONE", "64", "PC32", "GOT32", "PLT32", "COPY", "GLOB_DAT",
      "JUMP_SLOT", "RELATIVE", "GOTPCREL", "32", "32S", "16", "PC16", "8",
      "PC8", "DTPMOD64", "DTPOFF64", "TPOFF64", "TLSGD", "TLSLD", "DTPOFF32",
      "GOTTPOFF", "TPOFF32", "PC64", "GOTOFF64", "GOTPC32", "GOT64",
      "GOTPCREL64", "GOTPC64", "GOTPLT64", "PLTOFF64", "SIZE32", "SIZE64",
      "GOTPC32_TLSDESC", "TLSDESC_CALL", "TLSDESC", "IRELATIVE", "RELATIVE64",
      nullptr, nullptr, "GOTPCRELX", "REX_GOTPCRELX"};
  std::string name = type < sizeof(names) / sizeof(names[0]) && names[type]
                         ? std::string("R_X86_64_") + names[type]
                         : std::string();
  return name.empty() ? std::to_string(type) + " (unknown)"
                      : name + " (" + std::to_string(type) + ")";
}

/// A name from the object, fit for a message: bytes outside printable
/// ASCII escaped, at most 200 characters.
std::string printable(const char *s) {
  std::string out;
  for (; *s; ++s) {
    if (out.size() >= 200)
      return out + "...";
    unsigned char c = static_cast<unsigned char>(*s);
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out += static_cast<char>(c);
    } else {
      static const char digits[] = "0123456789abcdef";
      out += "\\x";
      out += digits[c >> 4];
      out += digits[c & 15];
    }
  }
  return out;
}

// --- the allow-list of imports -------------------------------------------------

struct AllowedImport {
  const char *name;
  void *address;
};

// Function addresses as void * (GCC and Clang allow the cast on Linux); the
// casts to exact types pick one overload where <cmath> adds float and long
// double ones.
template <typename Fn> void *address(Fn *fn) { return reinterpret_cast<void *>(fn); }
using F1 = float(float);
using D1 = double(double);
using F2 = float(float, float);
using D2 = double(double, double);
#define MOERT_F1(n) {#n, address<F1>(::n)}
#define MOERT_D1(n) {#n, address<D1>(::n)}
#define MOERT_F2(n) {#n, address<F2>(::n)}
#define MOERT_D2(n) {#n, address<D2>(::n)}

/// Every function a code object may import: the C library's memory
/// functions and libm's (what LLVM's lowering of math ops and intrinsics
/// calls), bound to the copies this process already has.
const AllowedImport kAllowList[] = {
    {"memset", address<void *(void *, int, size_t)>(::memset)},
    {"memcpy", address<void *(void *, const void *, size_t)>(::memcpy)},
    {"memmove", address<void *(void *, const void *, size_t)>(::memmove)},
    MOERT_F1(expf), MOERT_D1(exp), MOERT_F1(exp2f), MOERT_D1(exp2),
    MOERT_F1(expm1f), MOERT_D1(expm1),
    MOERT_F1(logf), MOERT_D1(log), MOERT_F1(log2f), MOERT_D1(log2),
    MOERT_F1(log10f), MOERT_D1(log10), MOERT_F1(log1pf), MOERT_D1(log1p),
    MOERT_F2(powf), MOERT_D2(pow), MOERT_F1(sqrtf), MOERT_D1(sqrt),
    MOERT_F1(cbrtf), MOERT_D1(cbrt), MOERT_F2(hypotf), MOERT_D2(hypot),
    MOERT_F1(sinf), MOERT_D1(sin), MOERT_F1(cosf), MOERT_D1(cos),
    MOERT_F1(tanf), MOERT_D1(tan), MOERT_F1(asinf), MOERT_D1(asin),
    MOERT_F1(acosf), MOERT_D1(acos), MOERT_F1(atanf), MOERT_D1(atan),
    MOERT_F2(atan2f), MOERT_D2(atan2), MOERT_F1(sinhf), MOERT_D1(sinh),
    MOERT_F1(coshf), MOERT_D1(cosh), MOERT_F1(tanhf), MOERT_D1(tanh),
    MOERT_F1(asinhf), MOERT_D1(asinh), MOERT_F1(acoshf), MOERT_D1(acosh),
    MOERT_F1(atanhf), MOERT_D1(atanh), MOERT_F1(erff), MOERT_D1(erf),
    MOERT_F1(erfcf), MOERT_D1(erfc), MOERT_F1(fabsf), MOERT_D1(fabs),
    MOERT_F1(floorf), MOERT_D1(floor), MOERT_F1(ceilf), MOERT_D1(ceil),
    MOERT_F1(roundf), MOERT_D1(round), MOERT_F1(truncf), MOERT_D1(trunc),
    MOERT_F1(rintf), MOERT_D1(rint), MOERT_F1(nearbyintf), MOERT_D1(nearbyint),
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 25))
    MOERT_F1(roundevenf), MOERT_D1(roundeven),
#endif
    MOERT_F2(fmaxf), MOERT_D2(fmax), MOERT_F2(fminf), MOERT_D2(fmin),
    MOERT_F2(fmodf), MOERT_D2(fmod), MOERT_F2(copysignf), MOERT_D2(copysign),
    {"fmaf", address<float(float, float, float)>(::fmaf)},
    {"fma", address<double(double, double, double)>(::fma)},
    {"ldexpf", address<float(float, int)>(::ldexpf)},
    {"ldexp", address<double(double, int)>(::ldexp)},
    {"frexpf", address<float(float, int *)>(::frexpf)},
    {"frexp", address<double(double, int *)>(::frexp)},
    {"sincosf", address<void(float, float *, float *)>(::sincosf)},
    {"sincos", address<void(double, double *, double *)>(::sincos)},
};

#undef MOERT_F1
#undef MOERT_D1
#undef MOERT_F2
#undef MOERT_D2

const AllowedImport *findAllowedImport(const char *name) {
  for (const AllowedImport &a : kAllowList)
    if (std::strcmp(a.name, name) == 0)
      return &a;
  return nullptr;
}

// --- parsing --------------------------------------------------------------------

/// A PT_LOAD with bytes in memory (p_memsz > 0).
struct Segment {
  uint64_t vaddr = 0, memsz = 0, offset = 0, filesz = 0;
  uint32_t flags = 0;
  unsigned index = 0; // its program header
};

/// 8 bytes a relocation writes at `target` (an address in the object's own
/// terms): `value`, plus the load bias where `plusBias`.
struct Fixup {
  uint64_t target;
  uint64_t value;
  bool plusBias;
};

/// A defined global or weak symbol: a kernel or a constant, perhaps.
struct ExportedSymbol {
  std::string name;
  uint64_t value, size;
  uint8_t info, other;
  uint16_t shndx;
};

/// All that loading needs, found and checked before anything is mapped.
struct ParsedObject {
  std::vector<Segment> loads; // ascending, no two share a page
  uint64_t low = 0, high = 0; // the image's page-aligned span
  uint64_t align = 0;         // the image base's alignment
  uint64_t relroBegin = 0, relroEnd = 0; // page-aligned; empty when none
  std::vector<Fixup> fixups;  // from DT_RELA and DT_JMPREL
  std::vector<uint8_t> relr;  // DT_RELR's entries (a copy: checked, then used)
  std::vector<ExportedSymbol> exports;
};

class ElfParser {
public:
  ElfParser(const uint8_t *data, size_t size, uint32_t index)
      : data_(data), size_(size), index_(index) {}

  Status parse(ParsedObject *out) {
    out_ = out;
    Status s;
    if (!(s = parseHeader()) || !(s = parseProgramHeaders()) ||
        !(s = parseDynamicSection()) || !(s = parseTables()) ||
        !(s = parseRelocations()) || !(s = parseExports()))
      return s;
    return Status();
  }

  /// Calls f(target) for each address DT_RELR relocates; stops at the
  /// first error f returns.
  template <typename F>
  static Status forEachRelr(const std::vector<uint8_t> &entries, F f,
                            const std::string &where) {
    uint64_t next = 0;
    bool haveAddress = false;
    for (uint64_t i = 0; i < entries.size() / 8; ++i) {
      uint64_t e = readAt<uint64_t>(entries.data() + i * 8);
      if ((e & 1) == 0) {
        if (Status s = f(e); !s)
          return s;
        haveAddress = true;
        if (__builtin_add_overflow(e, 8, &next))
          return error(MOERT_INVALID_ARTIFACT, where, "DT_RELR entry ", i,
                       " (", hex(e), ") overflows the address space");
        continue;
      }
      if (!haveAddress)
        return error(MOERT_INVALID_ARTIFACT, where, "DT_RELR entry ", i,
                     " is a bitmap with no address before it");
      for (unsigned bit = 1; bit < 64; ++bit) {
        if (((e >> bit) & 1) == 0)
          continue;
        uint64_t target;
        if (__builtin_add_overflow(next, uint64_t(bit - 1) * 8, &target))
          return error(MOERT_INVALID_ARTIFACT, where, "DT_RELR entry ", i,
                       " overflows the address space");
        if (Status s = f(target); !s)
          return s;
      }
      if (__builtin_add_overflow(next, uint64_t(63) * 8, &next))
        return error(MOERT_INVALID_ARTIFACT, where, "DT_RELR entry ", i,
                     " overflows the address space");
    }
    return Status();
  }

private:
  /// A structural error: the object is damaged or not what it claims.
  template <typename... P> Status malformed(const P &...parts) const {
    return error(MOERT_INVALID_ARTIFACT, "code object ", index_, ": ", parts...);
  }
  /// Well formed, but something the runtime will not do; `parts` continue
  /// "code object N ".
  template <typename... P> Status refused(const P &...parts) const {
    return error(MOERT_LOAD_ERROR, "code object ", index_, " ", parts...);
  }
  std::string where() const {
    return "code object " + std::to_string(index_) + ": ";
  }

  /// The file bytes that hold the object's addresses [addr, addr + len),
  /// when they lie in the file-backed part of one PT_LOAD; else null.
  const uint8_t *fileBytes(uint64_t addr, uint64_t len) const {
    for (const Segment &l : out_->loads) {
      if (addr < l.vaddr)
        continue;
      uint64_t off = addr - l.vaddr;
      if (off <= l.filesz && len <= l.filesz - off)
        return data_ + l.offset + off;
    }
    return nullptr;
  }

  /// The PT_LOAD whose memory holds [addr, addr + len) (a writable one when
  /// `writable`); else null.
  const Segment *loadHolding(uint64_t addr, uint64_t len, bool writable) const {
    for (const Segment &l : out_->loads) {
      if (addr < l.vaddr || (writable && !(l.flags & PF_W)))
        continue;
      uint64_t off = addr - l.vaddr;
      if (off <= l.memsz && len <= l.memsz - off)
        return &l;
    }
    return nullptr;
  }

  /// The NUL-terminated string at `offset` of the string table; null when
  /// it does not lie inside it.
  const char *stringAt(uint64_t offset) const {
    if (!strtab_ || offset >= strsz_)
      return nullptr;
    const char *s = reinterpret_cast<const char *>(strtab_ + offset);
    return std::memchr(s, 0, strsz_ - offset) ? s : nullptr;
  }

  Elf64_Sym symbol(uint64_t i) const {
    return readAt<Elf64_Sym>(symtab_ + i * sizeof(Elf64_Sym));
  }

  /// Symbol i's name for a message.
  std::string symbolName(uint64_t i) const {
    const char *n = stringAt(symbol(i).st_name);
    return n ? "'" + printable(n) + "'" : "#" + std::to_string(i);
  }

  bool has(int64_t tag) const { return tags_.count(tag) != 0; }
  uint64_t tag(int64_t t) const {
    auto it = tags_.find(t);
    return it == tags_.end() ? 0 : it->second;
  }

  Status parseHeader() {
    if (Status s = checkHostElfHeader(data_, size_); !s)
      return s.prefixed("code object " + std::to_string(index_) + " ");
    Elf64_Ehdr eh = readAt<Elf64_Ehdr>(data_);
    if (eh.e_ident[EI_VERSION] != EV_CURRENT || eh.e_version != EV_CURRENT)
      return malformed("ELF version ", unsigned(eh.e_ident[EI_VERSION]), "/",
                       eh.e_version, " is not EV_CURRENT (1)");
    unsigned abi = eh.e_ident[EI_OSABI];
    if (abi != ELFOSABI_SYSV && abi != ELFOSABI_GNU)
      return refused("is for the OS ABI ", abi,
                     ", not System V (0) or GNU (3)");
    if (eh.e_phentsize != sizeof(Elf64_Phdr))
      return malformed("e_phentsize is ", eh.e_phentsize, ", not ",
                       sizeof(Elf64_Phdr));
    if (eh.e_phnum == 0)
      return malformed("the object has no program headers");
    if (eh.e_phnum == PN_XNUM)
      return malformed("too many program headers (e_phnum is PN_XNUM)");
    uint64_t bytes = uint64_t(eh.e_phnum) * sizeof(Elf64_Phdr), end;
    if (__builtin_add_overflow(eh.e_phoff, bytes, &end) || end > size_)
      return malformed("the program headers ", range(eh.e_phoff, bytes),
                       " lie outside the ", size_, "-byte object");
    phoff_ = eh.e_phoff;
    phnum_ = eh.e_phnum;
    return Status();
  }

  Status parseProgramHeaders() {
    const uint64_t page = pageSize();
    bool haveDynamic = false, haveRelro = false;
    Elf64_Phdr relro{};
    uint64_t align = page, prevEnd = 0;
    for (unsigned i = 0; i < phnum_; ++i) {
      Elf64_Phdr ph =
          readAt<Elf64_Phdr>(data_ + phoff_ + uint64_t(i) * sizeof(Elf64_Phdr));
      std::string what = "program header " + std::to_string(i) + " (" +
                         segmentTypeName(ph.p_type) + ")";
      uint64_t fileEnd;
      if (ph.p_filesz != 0 &&
          (__builtin_add_overflow(ph.p_offset, ph.p_filesz, &fileEnd) ||
           fileEnd > size_))
        return malformed(what, ": file bytes ", range(ph.p_offset, ph.p_filesz),
                         " lie outside the ", size_, "-byte object");
      uint64_t memEnd;
      if (__builtin_add_overflow(ph.p_vaddr, ph.p_memsz, &memEnd))
        return malformed(what, ": addresses ", range(ph.p_vaddr, ph.p_memsz),
                         " overflow the address space");
      switch (ph.p_type) {
      case PT_LOAD: {
        if (ph.p_filesz > ph.p_memsz)
          return malformed(what, ": p_filesz ", ph.p_filesz,
                           " exceeds p_memsz ", ph.p_memsz);
        if (ph.p_align > 1 && !isPowerOfTwo(ph.p_align))
          return malformed(what, ": p_align ", hex(ph.p_align),
                           " is not a power of two");
        if (ph.p_align > kMaxSegmentAlign)
          return refused("asks for a segment alignment of ", hex(ph.p_align),
                         " (", what, "); the runtime supports up to ",
                         hex(kMaxSegmentAlign));
        if ((ph.p_flags & PF_W) && (ph.p_flags & PF_X))
          return refused("has a segment that is both writable and executable (",
                         what, " at ", range(ph.p_vaddr, ph.p_memsz),
                         "), which the runtime refuses (W^X)");
        if (ph.p_memsz == 0)
          break;
        if (alignDown(ph.p_vaddr, page) < prevEnd)
          return malformed(what, " at ", range(ph.p_vaddr, ph.p_memsz),
                           " overlaps or shares a page with the PT_LOAD before it"
                           " (they must be in ascending order, on separate pages)");
        if (!alignUp(memEnd, page, &prevEnd))
          return malformed(what, ": addresses ", range(ph.p_vaddr, ph.p_memsz),
                           " overflow the address space");
        if (ph.p_align > align)
          align = ph.p_align;
        Segment l;
        l.vaddr = ph.p_vaddr;
        l.memsz = ph.p_memsz;
        l.offset = ph.p_offset;
        l.filesz = ph.p_filesz;
        l.flags = ph.p_flags;
        l.index = i;
        out_->loads.push_back(l);
        break;
      }
      case PT_DYNAMIC:
        if (haveDynamic)
          return malformed("more than one dynamic section (PT_DYNAMIC)");
        haveDynamic = true;
        dynamic_ = ph;
        break;
      case PT_GNU_RELRO:
        if (haveRelro)
          return malformed("more than one PT_GNU_RELRO");
        haveRelro = true;
        relro = ph;
        break;
      case PT_GNU_STACK:
        if (ph.p_flags & PF_X)
          return refused("asks for an executable stack (", what,
                         " with PF_X), which the runtime refuses");
        break;
      case PT_NULL:
      case PT_NOTE:
      case PT_PHDR:
      case PT_GNU_EH_FRAME:
      case PT_GNU_PROPERTY:
      case PT_GNU_SFRAME:
        break;
      default:
        return refused("has program header ", i, " of type ",
                       segmentTypeName(ph.p_type),
                       ", which the runtime does not support");
      }
    }
    if (out_->loads.empty())
      return malformed("the object has no loadable segment (PT_LOAD)");
    if (!haveDynamic)
      return malformed("the object has no dynamic section (PT_DYNAMIC)");
    out_->low = alignDown(out_->loads.front().vaddr, page);
    out_->high = prevEnd;
    if (out_->high - out_->low > kMaxImageSpan)
      return refused("spans ", out_->high - out_->low,
                     " bytes of address space; the runtime loads at most ",
                     kMaxImageSpan);
    out_->align = align;
    if (haveRelro && relro.p_memsz != 0) {
      // It starts in a writable segment; lld pads its end to a page boundary,
      // past the segment's p_memsz.
      if (!loadHolding(relro.p_vaddr, 0, /*writable=*/true) ||
          relro.p_vaddr + relro.p_memsz > out_->high)
        return malformed("PT_GNU_RELRO ", range(relro.p_vaddr, relro.p_memsz),
                         " does not start inside a writable PT_LOAD or ends "
                         "outside the image");
      // As ld.so does: the whole pages inside the range become read-only
      // (those of writable segments: load() intersects).
      out_->relroBegin = alignDown(relro.p_vaddr, page);
      out_->relroEnd = alignDown(relro.p_vaddr + relro.p_memsz, page);
      if (out_->relroEnd < out_->relroBegin)
        out_->relroEnd = out_->relroBegin;
    }
    return Status();
  }

  Status parseDynamicSection() {
    uint64_t count = dynamic_.p_memsz / sizeof(Elf64_Dyn);
    const uint8_t *dyn = fileBytes(dynamic_.p_vaddr, count * sizeof(Elf64_Dyn));
    if (count == 0 || !dyn)
      return malformed("the dynamic section ",
                       range(dynamic_.p_vaddr, dynamic_.p_memsz),
                       " is empty or does not lie in the file bytes of a PT_LOAD");
    std::vector<uint64_t> needed;
    int64_t unknown = 0;
    bool haveUnknown = false, terminated = false;
    for (uint64_t i = 0; i < count && !terminated; ++i) {
      Elf64_Dyn d = readAt<Elf64_Dyn>(dyn + i * sizeof(Elf64_Dyn));
      int64_t t = d.d_tag;
      uint64_t v = d.d_un.d_val;
      switch (t) {
      case DT_NULL:
        terminated = true;
        continue;
      case DT_NEEDED:
        needed.push_back(v);
        continue;
      // Read below.
      case DT_PLTRELSZ: case DT_HASH: case DT_STRTAB: case DT_SYMTAB:
      case DT_RELA: case DT_RELASZ: case DT_RELAENT: case DT_STRSZ:
      case DT_SYMENT: case DT_INIT: case DT_FINI: case DT_REL: case DT_PLTREL:
      case DT_TEXTREL: case DT_JMPREL: case DT_INIT_ARRAY: case DT_FINI_ARRAY:
      case DT_INIT_ARRAYSZ: case DT_FINI_ARRAYSZ: case DT_FLAGS:
      case DT_PREINIT_ARRAY: case DT_PREINIT_ARRAYSZ: case DT_GNU_HASH:
      case DT_RELR: case DT_RELRSZ: case DT_RELRENT:
      // Harmless for a loader that loads no library and binds at load.
      case DT_PLTGOT: case DT_SONAME: case DT_RPATH: case DT_SYMBOLIC:
      case DT_RELSZ: case DT_RELENT: case DT_DEBUG: case DT_BIND_NOW:
      case DT_RUNPATH: case DT_SYMTAB_SHNDX: case DT_RELACOUNT:
      case DT_RELCOUNT: case DT_FLAGS_1: case DT_VERSYM: case DT_VERDEF:
      case DT_VERDEFNUM: case DT_VERNEED: case DT_VERNEEDNUM:
      case DT_CHECKSUM: case DT_GNU_PRELINKED: case DT_SYMINSZ:
      case DT_SYMINENT: case DT_SYMINFO: case DT_POSFLAG_1:
      case DT_X86_64_PLT: case DT_X86_64_PLTSZ: case DT_X86_64_PLTENT:
        if (!tags_.emplace(t, v).second)
          return malformed("the dynamic tag ", hex(uint64_t(t)),
                           " appears more than once");
        continue;
      default:
        if (!haveUnknown) {
          haveUnknown = true;
          unknown = t;
        }
        continue;
      }
    }
    if (!terminated)
      return malformed("the dynamic section has no DT_NULL terminator");

    if (has(DT_STRTAB) != has(DT_STRSZ))
      return malformed("the dynamic section has only one of DT_STRTAB and DT_STRSZ");
    if (has(DT_STRTAB)) {
      strtab_ = fileBytes(tag(DT_STRTAB), tag(DT_STRSZ));
      strsz_ = tag(DT_STRSZ);
      if (!strtab_)
        return malformed("the string table ", range(tag(DT_STRTAB), strsz_),
                         " does not lie in the file bytes of a PT_LOAD");
    }

    // Refusals, most telling first.
    if (!needed.empty()) {
      const char *lib = stringAt(needed.front());
      return refused("needs the shared library '",
                     lib ? printable(lib) : "(name outside the string table)",
                     "' (DT_NEEDED), and the runtime loads no libraries for "
                     "code objects");
    }
    auto array = [&](int64_t addrTag, int64_t sizeTag) {
      return has(sizeTag) ? tag(sizeTag) != 0 : has(addrTag);
    };
    if (array(DT_PREINIT_ARRAY, DT_PREINIT_ARRAYSZ))
      return refused("has an initializer/constructor (DT_PREINIT_ARRAY), "
                     "which the runtime refuses to run");
    if (has(DT_INIT))
      return refused("has an initializer/constructor (DT_INIT), which the "
                     "runtime refuses to run");
    if (array(DT_INIT_ARRAY, DT_INIT_ARRAYSZ))
      return refused("has an initializer/constructor (DT_INIT_ARRAY), which "
                     "the runtime refuses to run");
    if (has(DT_FINI))
      return refused("has a finalizer/destructor (DT_FINI), which the runtime "
                     "refuses to run");
    if (array(DT_FINI_ARRAY, DT_FINI_ARRAYSZ))
      return refused("has a finalizer/destructor (DT_FINI_ARRAY), which the "
                     "runtime refuses to run");
    if (has(DT_TEXTREL) || (tag(DT_FLAGS) & DF_TEXTREL))
      return refused("has text relocations (DT_TEXTREL), which the runtime "
                     "refuses (code must stay read-only)");
    if (tag(DT_FLAGS) & DF_STATIC_TLS)
      return refused("uses thread-local storage (DF_STATIC_TLS), which the "
                     "runtime does not support");
    if (has(DT_REL) || (has(DT_PLTREL) && tag(DT_PLTREL) == DT_REL))
      return refused("has REL relocations (DT_REL); the runtime supports only "
                     "RELA relocations");
    if (haveUnknown) {
      const char *name = dynamicTagName(unknown);
      return refused("has the dynamic tag ", name ? name : "", name ? " (" : "",
                     hex(uint64_t(unknown)), name ? ")" : "",
                     ", which the runtime does not support");
    }
    if (has(DT_PLTREL) && tag(DT_PLTREL) != DT_RELA)
      return malformed("DT_PLTREL is ", tag(DT_PLTREL), ", not DT_RELA (7)");
    if (has(DT_JMPREL) && !has(DT_PLTREL))
      return malformed("DT_JMPREL without DT_PLTREL");
    if (has(DT_SYMENT) && tag(DT_SYMENT) != sizeof(Elf64_Sym))
      return malformed("DT_SYMENT is ", tag(DT_SYMENT), ", not ", sizeof(Elf64_Sym));
    if (has(DT_RELAENT) && tag(DT_RELAENT) != sizeof(Elf64_Rela))
      return malformed("DT_RELAENT is ", tag(DT_RELAENT), ", not ", sizeof(Elf64_Rela));
    if (has(DT_RELRENT) && tag(DT_RELRENT) != 8)
      return malformed("DT_RELRENT is ", tag(DT_RELRENT), ", not 8");
    return Status();
  }

  /// The symbol count (from DT_HASH, else DT_GNU_HASH) and the symbol table.
  Status parseTables() {
    if (!has(DT_SYMTAB) || !strtab_)
      return malformed("the dynamic section has no symbol table "
                       "(DT_SYMTAB, DT_STRTAB and DT_STRSZ)");
    uint64_t nsyms = 0;
    if (has(DT_HASH)) {
      const uint8_t *h = fileBytes(tag(DT_HASH), 8);
      uint64_t nbucket = h ? readAt<uint32_t>(h) : 0;
      uint64_t nchain = h ? readAt<uint32_t>(h + 4) : 0;
      uint64_t bytes = 8 + 4 * (nbucket + nchain);
      if (!h || !fileBytes(tag(DT_HASH), bytes))
        return malformed("the hash table (DT_HASH) at ", hex(tag(DT_HASH)),
                         " does not lie in the file bytes of a PT_LOAD");
      nsyms = nchain;
    } else if (has(DT_GNU_HASH)) {
      uint64_t at = tag(DT_GNU_HASH);
      const uint8_t *h = fileBytes(at, 16);
      if (!h)
        return malformed("the GNU hash table (DT_GNU_HASH) at ", hex(at),
                         " does not lie in the file bytes of a PT_LOAD");
      uint64_t nbuckets = readAt<uint32_t>(h);
      uint64_t symoffset = readAt<uint32_t>(h + 4);
      uint64_t bloomWords = readAt<uint32_t>(h + 8);
      uint64_t bucketsAt, chainsAt;
      const uint8_t *buckets = nullptr;
      if (!__builtin_add_overflow(at, 16 + 8 * bloomWords, &bucketsAt) &&
          !__builtin_add_overflow(bucketsAt, 4 * nbuckets, &chainsAt))
        buckets = fileBytes(bucketsAt, 4 * nbuckets);
      if (nbuckets == 0 || !buckets)
        return malformed("the GNU hash table (DT_GNU_HASH) at ", hex(at),
                         " has no buckets or does not lie in the file bytes "
                         "of a PT_LOAD");
      uint64_t last = 0;
      for (uint64_t b = 0; b < nbuckets; ++b) {
        uint64_t first = readAt<uint32_t>(buckets + 4 * b);
        if (first != 0 && first < symoffset)
          return malformed("GNU hash bucket ", b, " starts at symbol ", first,
                           ", below the table's first hashed symbol ", symoffset);
        last = std::max(last, first);
      }
      nsyms = symoffset;
      if (last != 0) {
        // Follow the chain of the last bucket to its end marker.
        for (uint64_t i = last;; ++i) {
          uint64_t entryAt;
          const uint8_t *c = nullptr;
          if (i <= UINT32_MAX &&
              !__builtin_add_overflow(chainsAt, 4 * (i - symoffset), &entryAt))
            c = fileBytes(entryAt, 4);
          if (!c)
            return malformed("the GNU hash chain of symbol ", last,
                             " runs outside the file bytes of its PT_LOAD");
          if (readAt<uint32_t>(c) & 1) {
            nsyms = i + 1;
            break;
          }
        }
      }
    } else {
      return malformed("the dynamic section has no symbol hash table "
                       "(DT_HASH or DT_GNU_HASH)");
    }
    symtab_ = fileBytes(tag(DT_SYMTAB), nsyms * sizeof(Elf64_Sym));
    if (!symtab_)
      return malformed("the symbol table ",
                       range(tag(DT_SYMTAB), nsyms * sizeof(Elf64_Sym)), " (",
                       nsyms, " symbols) does not lie in the file bytes of a PT_LOAD");
    nsyms_ = nsyms;
    return Status();
  }

  /// S for relocation `r` naming symbol `si`: `*value` (plus the load bias
  /// where `*plusBias`).
  Status symbolValue(uint64_t r, uint64_t si, uint64_t *value, bool *plusBias) {
    *value = 0;
    *plusBias = false;
    if (si == 0)
      return Status();
    if (si >= nsyms_)
      return malformed("relocation ", r, " names symbol ", si,
                       ", but the symbol table has ", nsyms_);
    Elf64_Sym s = symbol(si);
    unsigned type = ELF64_ST_TYPE(s.st_info);
    if (s.st_shndx == SHN_UNDEF) {
      const char *name = stringAt(s.st_name);
      if (!name)
        return malformed("symbol ", si, " has a name outside the string table");
      const AllowedImport *a = findAllowedImport(name);
      if (!a || type == STT_TLS)
        return refused("imports '", printable(name), "', which is not on the runtime's "
                       "allow-list (libm and memset/memcpy/memmove)");
      *value = reinterpret_cast<uint64_t>(a->address);
      return Status();
    }
    if (type == STT_TLS)
      return refused("uses the thread-local symbol ", symbolName(si),
                     ", and the runtime does not support thread-local storage");
    if (type == STT_GNU_IFUNC)
      return refused("has the indirect function ", symbolName(si),
                     " (STT_GNU_IFUNC), whose resolver the runtime refuses to run");
    if (s.st_shndx == SHN_COMMON)
      return malformed("symbol ", symbolName(si), " is a common symbol");
    if (s.st_shndx == SHN_ABS) {
      *value = s.st_value;
      return Status();
    }
    if (s.st_value < out_->low || s.st_value > out_->high)
      return malformed("symbol ", symbolName(si), " (", hex(s.st_value),
                       ") lies outside the image ", range(out_->low, out_->high - out_->low));
    *value = s.st_value;
    *plusBias = true;
    return Status();
  }

  /// A relocation table's entries, checked to lie in the file bytes.
  Status table(int64_t addrTag, int64_t sizeTag, const char *what,
               uint64_t entrySize, const uint8_t **entries, uint64_t *count) {
    *entries = nullptr;
    *count = 0;
    if (has(addrTag) != has(sizeTag))
      return malformed("the dynamic section gives only the address or only the "
                       "size of ", what);
    if (!has(addrTag) || tag(sizeTag) == 0)
      return Status();
    if (tag(sizeTag) % entrySize != 0)
      return malformed(what, " is ", tag(sizeTag),
                       " bytes, not a multiple of ", entrySize);
    *entries = fileBytes(tag(addrTag), tag(sizeTag));
    if (!*entries)
      return malformed(what, " ", range(tag(addrTag), tag(sizeTag)),
                       " does not lie in the file bytes of a PT_LOAD");
    *count = tag(sizeTag) / entrySize;
    return Status();
  }

  Status parseRelocations() {
    const uint8_t *rela, *jmprel, *relr;
    uint64_t nrela, njmprel, nrelr;
    Status s;
    if (!(s = table(DT_RELA, DT_RELASZ, "the relocations (DT_RELA)",
                    sizeof(Elf64_Rela), &rela, &nrela)) ||
        !(s = table(DT_JMPREL, DT_PLTRELSZ, "the PLT relocations (DT_JMPREL)",
                    sizeof(Elf64_Rela), &jmprel, &njmprel)) ||
        !(s = table(DT_RELR, DT_RELRSZ, "the packed relocations (DT_RELR)", 8,
                    &relr, &nrelr)))
      return s;
    if (nrelr != 0)
      out_->relr.assign(relr, relr + nrelr * 8);
    out_->fixups.reserve(nrela + njmprel);
    uint64_t r = 0; // numbered across both tables
    for (int t = 0; t < 2; ++t) {
      const uint8_t *entries = t == 0 ? rela : jmprel;
      uint64_t n = t == 0 ? nrela : njmprel;
      for (uint64_t i = 0; i < n; ++i, ++r) {
        Elf64_Rela e = readAt<Elf64_Rela>(entries + i * sizeof(Elf64_Rela));
        uint32_t type = ELF64_R_TYPE(e.r_info);
        uint64_t si = ELF64_R_SYM(e.r_info);
        if (type == R_X86_64_NONE)
          continue;
        if (type != R_X86_64_RELATIVE && type != R_X86_64_64 &&
            type != R_X86_64_GLOB_DAT && type != R_X86_64_JUMP_SLOT)
          return refused("has a relocation of type ", relocationTypeName(type),
                         " (relocation ", r, "), which the runtime does not support");
        if (!loadHolding(e.r_offset, 8, /*writable=*/true))
          return refused("has a relocation (", r, ", ", relocationTypeName(type),
                         ") that writes ", range(e.r_offset, 8),
                         ", outside its writable segments");
        Fixup f{e.r_offset, 0, true};
        if (type != R_X86_64_RELATIVE)
          if (!(s = symbolValue(r, si, &f.value, &f.plusBias)))
            return s;
        f.value += static_cast<uint64_t>(e.r_addend); // S + A, B + A
        out_->fixups.push_back(f);
      }
    }
    return forEachRelr(out_->relr, [&](uint64_t target) {
      if (loadHolding(target, 8, /*writable=*/true))
        return Status();
      return refused("has a packed relative relocation (DT_RELR) that writes ",
                     range(target, 8), ", outside its writable segments");
    }, where());
  }

  Status parseExports() {
    for (uint64_t i = 1; i < nsyms_; ++i) {
      Elf64_Sym s = symbol(i);
      unsigned bind = ELF64_ST_BIND(s.st_info);
      if (s.st_shndx == SHN_UNDEF || (bind != STB_GLOBAL && bind != STB_WEAK))
        continue;
      const char *name = stringAt(s.st_name);
      if (!name)
        return malformed("symbol ", i, " has a name outside the string table");
      out_->exports.push_back(ExportedSymbol{name, s.st_value, s.st_size,
                                             s.st_info, s.st_other, s.st_shndx});
    }
    return Status();
  }

  const uint8_t *data_;
  size_t size_;
  uint32_t index_;
  ParsedObject *out_ = nullptr;
  uint64_t phoff_ = 0;
  unsigned phnum_ = 0;
  Elf64_Phdr dynamic_{};
  std::unordered_map<int64_t, uint64_t> tags_;
  const uint8_t *strtab_ = nullptr;
  uint64_t strsz_ = 0;
  const uint8_t *symtab_ = nullptr;
  uint64_t nsyms_ = 0;
};

int protection(uint32_t flags) {
  return ((flags & PF_R) ? PROT_READ : 0) | ((flags & PF_W) ? PROT_WRITE : 0) |
         ((flags & PF_X) ? PROT_EXEC : 0);
}

} // namespace


Status checkHostElfHeader(const uint8_t *data, size_t size) {
  if (size < 64)
    return error(MOERT_INVALID_ARTIFACT, "is ", size,
                 " bytes, too small for an ELF header");
  if (!(data[0] == 0x7f && data[1] == 'E' && data[2] == 'L' && data[3] == 'F'))
    return error(MOERT_INVALID_ARTIFACT, "is not an ELF object (bad ELF magic)");
  if (data[4] != 2 /*ELFCLASS64*/ || data[5] != 1 /*ELFDATA2LSB*/)
    return error(MOERT_INVALID_ARTIFACT,
                 "is not a 64-bit little-endian ELF object");
  uint16_t type = static_cast<uint16_t>(data[16] | (data[17] << 8));
  uint16_t machine = static_cast<uint16_t>(data[18] | (data[19] << 8));
  if (type != 3 /*ET_DYN*/)
    return error(MOERT_INVALID_ARTIFACT,
                 "is not an ELF shared object (e_type ", type, ")");
  if (machine != 62 /*EM_X86_64*/)
    return error(MOERT_INVALID_ARTIFACT, "is not an x86-64 ELF object (e_machine ",
                 machine, ")");
  return Status();
}

Status checkHostCpuFeatures(const std::string &arch, uint32_t index) {
  // __builtin_cpu_supports takes only string literals: one entry per feature.
  struct Feature {
    const char *name;
    bool present;
  };
  __builtin_cpu_init();
  const Feature known[] = {
      {"sse4.2", bool(__builtin_cpu_supports("sse4.2"))},
      {"popcnt", bool(__builtin_cpu_supports("popcnt"))},
      {"avx", bool(__builtin_cpu_supports("avx"))},
      {"avx2", bool(__builtin_cpu_supports("avx2"))},
      {"fma", bool(__builtin_cpu_supports("fma"))},
      {"bmi", bool(__builtin_cpu_supports("bmi"))},
      {"bmi2", bool(__builtin_cpu_supports("bmi2"))},
      {"avx512f", bool(__builtin_cpu_supports("avx512f"))},
      {"avx512bw", bool(__builtin_cpu_supports("avx512bw"))},
      {"avx512dq", bool(__builtin_cpu_supports("avx512dq"))},
      {"avx512vl", bool(__builtin_cpu_supports("avx512vl"))},
      {"avx512vnni", bool(__builtin_cpu_supports("avx512vnni"))},
      {"avx512bf16", bool(__builtin_cpu_supports("avx512bf16"))},
  };
  size_t plus = arch.find('+');
  std::string cpu = arch.substr(0, plus);
  while (plus != std::string::npos) {
    size_t next = arch.find('+', plus + 1);
    std::string name = arch.substr(plus + 1, next == std::string::npos
                                                 ? std::string::npos
                                                 : next - plus - 1);
    plus = next;
    const Feature *f = nullptr;
    for (const Feature &k : known)
      if (name == k.name)
        f = &k;
    if (!f)
      return error(MOERT_UNSUPPORTED, "code object ", index,
                   ": its kernels need the CPU feature '", name,
                   "', which this runtime cannot check");
    if (!f->present)
      return error(MOERT_UNSUPPORTED, "code object ", index,
                   ": its kernels were compiled for ", cpu, " and need ",
                   name, ", which this CPU lacks; recompile with "
                   "moe-compile --cpu=x86-64 (or --cpu=native on this machine)");
  }
  return Status();
}

Status LoadedCode::load(const uint8_t *data, size_t size, uint32_t index,
                        std::shared_ptr<LoadedCode> *out) {
  const std::string where = "code object " + std::to_string(index) + ": ";
  ParsedObject obj;
  if (Status s = ElfParser(data, size, index).parse(&obj); !s)
    return s;

  std::shared_ptr<LoadedCode> code(new LoadedCode());
  code->index_ = index;

  // Reserve the span, aligned as the segments ask (an over-sized
  // reservation, trimmed).
  const uint64_t page = pageSize();
  const uint64_t span = obj.high - obj.low;
  const uint64_t align = std::max(page, obj.align);
  const size_t reserve = static_cast<size_t>(span + (align - page));
  void *raw = ::mmap(nullptr, reserve, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS,
                     -1, 0);
  if (raw == MAP_FAILED)
    return error(MOERT_LOAD_ERROR, where, "reserving ", span,
                 " bytes of address space failed: ", std::strerror(errno));
  uintptr_t rawBegin = reinterpret_cast<uintptr_t>(raw);
  uintptr_t begin = (rawBegin + (align - 1)) & ~uintptr_t(align - 1);
  if (begin > rawBegin)
    ::munmap(raw, begin - rawBegin);
  if (rawBegin + reserve > begin + span)
    ::munmap(reinterpret_cast<void *>(begin + span),
             rawBegin + reserve - (begin + span));

  code->map_ = reinterpret_cast<uint8_t *>(begin); // the destructor unmaps
  code->mapSize_ = static_cast<size_t>(span);
  code->low_ = obj.low;
  gLoadedCount.fetch_add(1, std::memory_order_relaxed);
  // Best effort (Linux 5.17+ with CONFIG_ANON_VMA_NAME): /proc/self/maps
  // shows the image as [anon:moert-code].
  (void)::prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, begin,
                static_cast<size_t>(span),
                reinterpret_cast<unsigned long>("moert-code"));

  uint8_t *const base = code->map_;
  const uint64_t bias = static_cast<uint64_t>(begin) - obj.low; // mod 2^64
  auto pages = [&](uint64_t from, uint64_t to, int prot, const char *what) {
    if (to <= from)
      return Status();
    if (::mprotect(base + (from - obj.low), static_cast<size_t>(to - from),
                   prot) == 0)
      return Status();
    return error(MOERT_LOAD_ERROR, where, "mprotect(", what, ") of ",
                 range(from, to - from), " failed: ", std::strerror(errno));
  };
  auto segmentPages = [&](const Segment &l, int prot, const char *what) {
    uint64_t end = 0;
    alignUp(l.vaddr + l.memsz, page, &end); // cannot overflow: checked
    return pages(alignDown(l.vaddr, page), end, prot, what);
  };

  // Copy each segment's file bytes in; the rest stays zero (.bss).
  for (const Segment &l : obj.loads) {
    if (Status s = segmentPages(l, PROT_READ | PROT_WRITE, "read-write"); !s)
      return s;
    if (l.filesz != 0)
      std::memcpy(base + (l.vaddr - obj.low), data + l.offset,
                  static_cast<size_t>(l.filesz));
  }

  // Relocate (every target was checked to lie in a writable segment):
  // DT_RELR first, as ld.so does, then DT_RELA and DT_JMPREL.
  if (Status s = ElfParser::forEachRelr(obj.relr, [&](uint64_t target) {
        uint8_t *p = base + (target - obj.low);
        uint64_t value = readAt<uint64_t>(p) + bias;
        std::memcpy(p, &value, sizeof value);
        return Status();
      }, where); !s)
    return s;
  for (const Fixup &f : obj.fixups) {
    uint64_t value = f.value + (f.plusBias ? bias : 0);
    std::memcpy(base + (f.target - obj.low), &value, sizeof value);
  }

  // Final permissions: exactly each segment's flags, then RELRO read-only.
  for (const Segment &l : obj.loads) {
    if (Status s = segmentPages(l, protection(l.flags), "p_flags"); !s)
      return s;
    if (l.flags & PF_X)
      code->exec_.emplace_back(l.vaddr, l.vaddr + l.memsz);
  }
  for (const Segment &l : obj.loads) {
    if (!(l.flags & PF_W)) {
      if (l.flags & PF_R)
        code->readOnly_.emplace_back(l.vaddr, l.vaddr + l.memsz);
      continue;
    }
    uint64_t end = 0;
    alignUp(l.vaddr + l.memsz, page, &end);
    uint64_t from = std::max(obj.relroBegin, alignDown(l.vaddr, page));
    uint64_t to = std::min(obj.relroEnd, end);
    if (Status s = pages(from, to, PROT_READ, "PT_GNU_RELRO"); !s)
      return s;
    from = std::max(from, l.vaddr);
    to = std::min(to, l.vaddr + l.memsz);
    if (from < to)
      code->readOnly_.emplace_back(from, to);
  }

  for (ExportedSymbol &e : obj.exports) {
    Export x;
    x.value = e.value;
    x.size = e.size;
    x.info = e.info;
    x.other = e.other;
    x.shndx = e.shndx;
    code->exports_.emplace(std::move(e.name), x); // the first one stays
  }
  *out = std::move(code);
  return Status();
}

LoadedCode::~LoadedCode() {
  if (map_) {
    ::munmap(map_, mapSize_);
    gLoadedCount.fetch_sub(1, std::memory_order_relaxed);
  }
}

size_t LoadedCode::loadedCount() {
  return gLoadedCount.load(std::memory_order_relaxed);
}

Status LoadedCode::resolve(const std::string &name, KernelFn *fn) const {
  auto it = exports_.find(name);
  if (it == exports_.end())
    return error(MOERT_LOAD_ERROR, "kernel '", name,
                 "' is not defined in code object ", index_);
  const Export &e = it->second;
  unsigned type = ELF64_ST_TYPE(e.info);
  unsigned visibility = ELF64_ST_VISIBILITY(e.other);
  if ((type != STT_FUNC && type != STT_NOTYPE) ||
      (visibility != STV_DEFAULT && visibility != STV_PROTECTED) ||
      e.shndx == SHN_ABS || e.shndx == SHN_COMMON)
    return error(MOERT_LOAD_ERROR, "kernel '", name,
                 "' is not defined in code object ", index_,
                 " (its symbol is not an exported function)");
  for (const std::pair<uint64_t, uint64_t> &x : exec_) {
    if (e.value < x.first || e.value >= x.second)
      continue;
    if (e.size > x.second - e.value)
      break;
    *fn = reinterpret_cast<KernelFn>(map_ + (e.value - low_));
    return Status();
  }
  return error(MOERT_LOAD_ERROR, "kernel '", name,
               "' is not defined in code object ", index_, " (its code ",
               range(e.value, e.size),
               " does not lie inside an executable segment)");
}

Status LoadedCode::resolveConstant(const std::string &name, const void **data,
                                   uint64_t *size) const {
  auto it = exports_.find(name);
  if (it == exports_.end())
    return error(MOERT_LOAD_ERROR, "constant '", name,
                 "' is not defined in code object ", index_);
  const Export &e = it->second;
  unsigned type = ELF64_ST_TYPE(e.info);
  unsigned visibility = ELF64_ST_VISIBILITY(e.other);
  if ((type != STT_OBJECT && type != STT_NOTYPE) ||
      (visibility != STV_DEFAULT && visibility != STV_PROTECTED) ||
      e.shndx == SHN_ABS || e.shndx == SHN_COMMON)
    return error(MOERT_LOAD_ERROR, "constant '", name,
                 "' is not defined in code object ", index_,
                 " (its symbol is not an exported data object)");
  for (const std::pair<uint64_t, uint64_t> &r : readOnly_) {
    if (e.value < r.first || e.value > r.second || e.size > r.second - e.value)
      continue;
    *data = map_ + (e.value - low_);
    *size = e.size;
    return Status();
  }
  return error(MOERT_LOAD_ERROR, "constant '", name,
               "' is not defined in code object ", index_, " (its bytes ",
               range(e.value, e.size), " do not lie in read-only memory)");
}

} // namespace moert::rt
