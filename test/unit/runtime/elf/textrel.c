/* Code that needs relocating (non-PIC, large code model: absolute addresses
 * in .text), linked with -z notext: DT_TEXTREL. */
#define KERNEL __attribute__((visibility("default")))
static long counter;
KERNEL void k(void *const *args, long T, long b, long e) {
  (void)T; (void)b; (void)e;
  *(long *)args[0] = ++counter;
}
