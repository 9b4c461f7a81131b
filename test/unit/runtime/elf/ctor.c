/* A constructor (.init_array -> DT_INIT_ARRAY): the runtime must refuse to
 * load it rather than run it. */
#define KERNEL __attribute__((visibility("default")))
static volatile int ran;
__attribute__((constructor)) static void setup(void) { ran = 1; }
KERNEL void k(void *const *args, long T, long b, long e) {
  (void)args; (void)T; (void)b; (void)e;
}
