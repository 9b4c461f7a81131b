/* A destructor (.fini_array -> DT_FINI_ARRAY). */
#define KERNEL __attribute__((visibility("default")))
static volatile int ran;
__attribute__((destructor)) static void teardown(void) { ran = 1; }
KERNEL void k(void *const *args, long T, long b, long e) {
  (void)args; (void)T; (void)b; (void)e;
}
