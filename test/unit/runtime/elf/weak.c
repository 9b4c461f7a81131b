/* A weak undefined import that is not on the allow-list (bound to NULL by
 * ld.so when absent; the runtime refuses it all the same). */
#define KERNEL __attribute__((visibility("default")))
extern void moert_fixture_missing(void) __attribute__((weak));
KERNEL void k(void *const *args, long T, long b, long e) {
  (void)args; (void)T; (void)b; (void)e;
  if (moert_fixture_missing)
    moert_fixture_missing();
}
