/* Imports system(), which is not on the runtime's allow-list. */
#define KERNEL __attribute__((visibility("default")))
extern int system(const char *command);
KERNEL void k(void *const *args, long T, long b, long e) {
  (void)T; (void)b; (void)e;
  system((const char *)args[0]);
}
