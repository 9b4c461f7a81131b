/* An indirect function (STT_GNU_IFUNC, R_X86_64_IRELATIVE): its resolver
 * would run at load. */
#define KERNEL __attribute__((visibility("default")))
static void impl(void *const *args, long T, long b, long e) {
  (void)args; (void)T; (void)b; (void)e;
}
static void (*resolve_k(void))(void *const *, long, long, long) { return impl; }
void k_indirect(void *const *args, long T, long b, long e)
    __attribute__((ifunc("resolve_k")));
KERNEL void k(void *const *args, long T, long b, long e) {
  k_indirect(args, T, b, e);
}
