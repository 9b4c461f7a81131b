/* A thread-local variable (PT_TLS). */
#define KERNEL __attribute__((visibility("default")))
static __thread long counter;
KERNEL void k(void *const *args, long T, long b, long e) {
  (void)T; (void)b; (void)e;
  *(long *)args[0] = ++counter;
}
