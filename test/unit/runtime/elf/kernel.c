/* A valid host code object in the shape moe-compile links (ld -shared,
 * no libc, imports from libm and memset only), for ElfLoaderTest.cpp.
 * Its relocations cover R_X86_64_JUMP_SLOT (direct calls), R_X86_64_64
 * (addresses of imports in a table), R_X86_64_RELATIVE (addresses of its own
 * data and functions); it also has a .bss counter and RELRO data.
 *
 * The same source is linked several ways (test/unit/runtime/CMakeLists.txt):
 * kernel.so (--hash-style=both, as moe-compile links), kernel_gnuhash.so
 * (DT_GNU_HASH only), kernel_relr.so (-z pack-relative-relocs: DT_RELR),
 * and the refused needed.so (-lm: DT_NEEDED), execstack.so (-z execstack)
 * and wx.so (-N: one writable and executable segment). */
#include <math.h>
#include <stddef.h>
#include <string.h>

#define KERNEL __attribute__((visibility("default")))

static float twice(float v) { return 2.0f * v; }

/* Relocated at load: expf and logf against the runtime's allow-list, twice
 * relative to the image. In .data.rel.ro, read-only after relocation. */
static float (*const ops[])(float) = {expf, logf, twice};
static const char *const names[] = {"exp", "log", "twice", "moert"};

static long calls; /* .bss */
KERNEL int not_a_function = 3; /* writable data */

/* Constants the runtime may read (LoadedCode::resolveConstant): one in
 * .rodata under a name C cannot spell (as moe-compile names a kernel's
 * bounds), one in .data.rel.ro (relocated, then read-only: RELRO). */
KERNEL const long bounds_k[3] __asm__("moec_bounds.k") = {16, 5, 64};
KERNEL const char *const fixture_greeting = "moert";

/* y[i] = expf(x[i]) for i in [b, e); z[i] = 0x5a (a memset); count[0] = how
 * many times k ran so far, count[1] = names[calls % 4][0] (the
 * first letter of exp, log, twice, moert in turn). */
KERNEL void k(void *const *args, long T, long b, long e) {
  const float *x = (const float *)args[0];
  float *y = (float *)args[1];
  unsigned char *z = (unsigned char *)args[2];
  long *count = (long *)args[3];
  (void)T;
  for (long i = b; i < e; ++i)
    y[i] = expf(x[i]);
  memset(z + b, 0x5a, (size_t)(e - b));
  count[1] = names[calls % 4][0];
  count[0] = ++calls;
}

/* y[i] = ops[*sel](x[i]) for i in [b, e): 0 expf, 1 logf, 2 twice. */
KERNEL void k_table(void *const *args, long T, long b, long e) {
  const float *x = (const float *)args[0];
  float *y = (float *)args[1];
  int sel = *(const volatile int *)args[2];
  (void)T;
  for (long i = b; i < e; ++i)
    y[i] = ops[sel](x[i]);
}

/* Not exported (hidden visibility): resolve must not find it. */
void hidden_k(void *const *args, long T, long b, long e) {
  (void)args; (void)T; (void)b; (void)e;
}
