//===- CodeObject.h - host code objects loaded from memory ------------------===//
//
// A HostSharedObject code object is an x86-64 ELF shared object inside the
// artifact. The runtime loads it itself (as IREE's embedded ELF loader does),
// never with dlopen: an artifact is untrusted input, and dlopen would run its
// constructors, load the libraries it names and bind its imports to anything
// in the process. The loader
//
//   1. parses the ELF header, program headers, dynamic section, symbol and
//      string tables, hash tables and relocations, checking every offset,
//      address and size (overflow-checked) against the `size` bytes given and
//      against the segments; a malformed object is a MOERT_INVALID_ARTIFACT
//      status ("code object N: ..."), never a crash;
//   2. reserves the image's whole virtual span with one
//      mmap(PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS) (named "moert-code" where
//      the kernel supports naming anonymous memory), makes each PT_LOAD
//      writable, copies its file bytes in (the rest is the mapping's zeros:
//      .bss), applies the relocations, then gives each PT_LOAD exactly the
//      permissions of its p_flags and makes PT_GNU_RELRO read-only;
//   3. runs nothing from the object: kernels are only called later, through
//      resolve().
//
// The rules (a refusal is a MOERT_LOAD_ERROR status naming what was refused;
// structural damage is MOERT_INVALID_ARTIFACT):
//
// - ELF header: ELFCLASS64, ELFDATA2LSB, EV_CURRENT, OS ABI System V or GNU,
//   ET_DYN, EM_X86_64, e_phentsize 56.
// - Program headers: PT_LOAD, PT_DYNAMIC (exactly one), PT_GNU_STACK (not
//   executable), PT_GNU_RELRO (starting in a writable PT_LOAD; the whole
//   pages it covers in writable segments become read-only), PT_GNU_EH_FRAME,
//   PT_GNU_PROPERTY, PT_GNU_SFRAME, PT_NOTE, PT_PHDR and PT_NULL are accepted;
//   anything else (PT_INTERP, PT_TLS, PT_SHLIB, unknown types) is refused,
//   naming the type. PT_LOADs come in ascending address order, do not share
//   pages, have a power-of-two p_align of at most 2 MiB (the image base is
//   aligned to the largest), lie inside the file (p_offset + p_filesz <=
//   size, p_filesz <= p_memsz), and are never both writable and executable
//   (W^X). The image spans at most 1 GiB. Section headers are not read.
// - Dynamic section: DT_NEEDED, DT_INIT, DT_FINI, DT_INIT_ARRAY(SZ),
//   DT_FINI_ARRAY(SZ), DT_PREINIT_ARRAY(SZ) (an array with a nonzero size,
//   or an address without a size), DT_TEXTREL / DF_TEXTREL, DF_STATIC_TLS,
//   DT_REL (only RELA relocations), DT_AUXILIARY, DT_FILTER, DT_AUDIT,
//   DT_DEPAUDIT and any tag not listed here are refused. DT_PLTREL must be
//   DT_RELA; DT_RELAENT and DT_SYMENT must be 24. Ignored (harmless for a
//   loader that loads no libraries and binds everything at load): DT_NULL,
//   DT_SONAME, DT_RPATH, DT_RUNPATH, DT_SYMBOLIC, DT_DEBUG (never written),
//   DT_BIND_NOW, DT_FLAGS (other bits), DT_FLAGS_1, DT_PLTGOT, DT_RELACOUNT,
//   DT_RELSZ / DT_RELENT / DT_RELCOUNT (meaningless without DT_REL),
//   DT_SYMTAB_SHNDX, DT_CHECKSUM, DT_GNU_PRELINKED, DT_SYMINFO and its sizes,
//   DT_POSFLAG_1, DT_X86_64_PLT(SZ/ENT), and the symbol-version tags
//   DT_VERSYM, DT_VERDEF(NUM), DT_VERNEED(NUM): imports are matched by name
//   only, against the allow-list below. Used: DT_STRTAB, DT_STRSZ,
//   DT_SYMTAB, DT_HASH or else DT_GNU_HASH (the symbol count), DT_RELA(SZ),
//   DT_JMPREL / DT_PLTRELSZ, DT_RELR(SZ/ENT). No tag may appear twice. The
//   tables must lie in the file-backed bytes of a PT_LOAD.
// - Relocations: R_X86_64_NONE, R_X86_64_RELATIVE (and DT_RELR, its packed
//   form), R_X86_64_64, R_X86_64_GLOB_DAT and R_X86_64_JUMP_SLOT (all S + A /
//   B + A); anything else (R_X86_64_IRELATIVE, TLS, PC-relative, ...) is
//   refused, naming the type. Each writes 8 bytes that must lie inside one
//   writable PT_LOAD.
// - Symbols a relocation names: one defined in the object resolves to
//   base + st_value (which must lie inside the image; SHN_ABS: st_value);
//   thread-local (STT_TLS), indirect (STT_GNU_IFUNC) and common symbols are
//   refused. An undefined one (weak or not) resolves only against a fixed
//   allow-list of functions the runtime itself links: memset, memcpy,
//   memmove and libm's float and double functions (CodeObject.cpp,
//   kAllowList); any other import is refused ("code object N imports
//   'system', which is not on the runtime's allow-list ...").
// - Kernels (resolve): a symbol of the dynamic symbol table, defined in the
//   object, global or weak, of default or protected visibility, of type
//   STT_FUNC or STT_NOTYPE, whose address (and last byte when st_size is
//   nonzero) lies inside an executable PT_LOAD.
// - Constants (resolveConstant): a symbol of the dynamic symbol table,
//   defined, global or weak, of default or protected visibility, of type
//   STT_OBJECT or STT_NOTYPE, whose st_size bytes lie in a readable PT_LOAD
//   that is not writable, or in the read-only (RELRO) pages of a writable one.
//
//===----------------------------------------------------------------------===//
#ifndef MOERT_SRC_CODEOBJECT_H
#define MOERT_SRC_CODEOBJECT_H

#include "Status.h"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace moert::rt {

/// The host kernel ABI (docs/artifact.md).
using KernelFn = void (*)(void *const *args, int64_t tokens, int64_t begin,
                          int64_t end);

/// Checks that `data` starts with the ELF header of a 64-bit little-endian
/// x86-64 shared object (no read past `size`). LoadedCode::load checks the
/// rest.
Status checkHostElfHeader(const uint8_t *data, size_t size);

/// Checks that this CPU has every instruction-set feature a host code
/// object's `arch` ("cpu+feature+feature...", docs/artifact.md) names.
Status checkHostCpuFeatures(const std::string &arch, uint32_t index);

class LoadedCode {
public:
  /// Loads `size` bytes at `data` (code object `index`, for messages) by the
  /// rules above. `data` is only read, and not referenced afterwards.
  static Status load(const uint8_t *data, size_t size, uint32_t index,
                     std::shared_ptr<LoadedCode> *out);
  ~LoadedCode(); // munmap the image
  LoadedCode(const LoadedCode &) = delete;
  LoadedCode &operator=(const LoadedCode &) = delete;

  /// Resolves kernel `name`: an exported function of this object's dynamic
  /// symbol table that lies inside one of its executable segments.
  Status resolve(const std::string &name, KernelFn *fn) const;

  /// Finds the constant `name` (such as a kernel's bounds,
  /// "moec_bounds.<kernel>", KernelBounds.h): an exported data symbol of this
  /// object whose st_size bytes lie in memory that is read-only once loaded
  /// (a readable segment that is not writable, or PT_GNU_RELRO). `*size` is
  /// its st_size.
  Status resolveConstant(const std::string &name, const void **data,
                         uint64_t *size) const;

  /// How the object was loaded: "own-loader" (the runtime's ELF loader).
  const char *method() const { return "own-loader"; }

  /// The image: its lowest address and its size in bytes (whole pages).
  const void *imageBase() const { return map_; }
  size_t imageSize() const { return mapSize_; }

  /// How many code objects are loaded in this process right now.
  static size_t loadedCount();

private:
  LoadedCode() = default;

  /// A defined global or weak symbol of the dynamic symbol table.
  struct Export {
    uint64_t value = 0; // st_value: an address in the object's own terms
    uint64_t size = 0;
    uint8_t info = 0;
    uint8_t other = 0;
    uint16_t shndx = 0;
  };

  uint8_t *map_ = nullptr;  // the reservation (page-aligned)
  size_t mapSize_ = 0;
  uint64_t low_ = 0;        // the object's address that map_ holds
  uint32_t index_ = 0;
  // [begin, end) in the object's addresses: executable; read-only.
  std::vector<std::pair<uint64_t, uint64_t>> exec_;
  std::vector<std::pair<uint64_t, uint64_t>> readOnly_;
  std::unordered_map<std::string, Export> exports_; // first definition wins
};

} // namespace moert::rt

#endif // MOERT_SRC_CODEOBJECT_H
