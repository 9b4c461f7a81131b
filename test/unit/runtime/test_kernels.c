/* Host kernels for the runtime tests, built into a shared object whose bytes
 * the tests put into artifacts as a HostSharedObject code object. The ABI is
 * docs/artifact.md's:
 *   void kernel(void *const *args, int64_t T, int64_t begin, int64_t end);
 * Linked with -nostdlib: the only outside symbol is libm's expf, resolved
 * against the process as the ABI allows. */
#include <math.h>
#include <stdint.h>

#define KERNEL __attribute__((visibility("default")))

/* y[r, :] = x[r, :] + bias for rows r in [begin, end); H = 8. */
KERNEL void moert_test_add_bias8(void *const *args, int64_t T, int64_t begin,
                                 int64_t end) {
  const float *x = (const float *)args[0];
  const float *bias = (const float *)args[1];
  float *y = (float *)args[2];
  (void)T;
  for (int64_t r = begin; r < end; ++r)
    for (int h = 0; h < 8; ++h)
      y[r * 8 + h] = x[r * 8 + h] + bias[h];
}

/* y[i] = silu(x[i]) = x / (1 + exp(-x)) over elements [begin, end). */
KERNEL void moert_test_silu(void *const *args, int64_t T, int64_t begin,
                            int64_t end) {
  const float *x = (const float *)args[0];
  float *y = (float *)args[1];
  (void)T;
  for (int64_t i = begin; i < end; ++i)
    y[i] = x[i] / (1.0f + expf(-x[i]));
}

/* Records the chunking: hits[i] += 1 for i in [begin, end) (i32),
 * lens[begin] = end - begin (i32), tokens[0] = T (i32). */
KERNEL void moert_test_mark_chunks(void *const *args, int64_t T, int64_t begin,
                                   int64_t end) {
  int32_t *hits = (int32_t *)args[0];
  int32_t *lens = (int32_t *)args[1];
  int32_t *tokens = (int32_t *)args[2];
  for (int64_t i = begin; i < end; ++i)
    __atomic_fetch_add(&hits[i], 1, __ATOMIC_RELAXED);
  lens[begin] = (int32_t)(end - begin);
  __atomic_store_n(&tokens[0], (int32_t)T, __ATOMIC_RELAXED);
}

static inline uint64_t rdtsc(void) {
  uint32_t lo, hi;
  __asm__ __volatile__("rdtsc" : "=a"(lo), "=d"(hi));
  return ((uint64_t)hi << 32) | lo;
}

/* A barrier over the T chunks of a launch with extent T and grain 1: each
 * chunk arrives at counter[0] and waits (a bounded time) for all T chunks to
 * have arrived; flags[begin] = 1 when it saw them all, 0 on timeout. Every
 * flag is 1 only when the chunks really ran concurrently. */
KERNEL void moert_test_rendezvous(void *const *args, int64_t T, int64_t begin,
                                  int64_t end) {
  int32_t *counter = (int32_t *)args[0];
  int32_t *flags = (int32_t *)args[1];
  (void)end;
  __atomic_fetch_add(&counter[0], 1, __ATOMIC_ACQ_REL);
  uint64_t start = rdtsc();
  int ok = 0;
  for (;;) {
    if (__atomic_load_n(&counter[0], __ATOMIC_ACQUIRE) >= T) {
      ok = 1;
      break;
    }
    if (rdtsc() - start > 20000000000ull) /* several seconds */
      break;
    __asm__ __volatile__("pause");
  }
  flags[begin] = ok;
}

/* Routing for a toy MoE layer with E = 4 experts over H = 8 features: each
 * token goes to expert argmax(x[t, 0:4]) (ties to the lower index). Writes
 * offsets (i32 [5]) and the permutation perm (i32 [T], token order grouped by
 * expert, stable). Runs as a single chunk (extent 1). */
KERNEL void moert_test_route4(void *const *args, int64_t T, int64_t begin,
                              int64_t end) {
  const float *x = (const float *)args[0];
  int32_t *offsets = (int32_t *)args[1];
  int32_t *perm = (int32_t *)args[2];
  int32_t counts[4] = {0, 0, 0, 0};
  (void)begin;
  (void)end;
  for (int64_t t = 0; t < T; ++t) {
    int best = 0;
    for (int e = 1; e < 4; ++e)
      if (x[t * 8 + e] > x[t * 8 + best])
        best = e;
    counts[best]++;
  }
  offsets[0] = 0;
  for (int e = 0; e < 4; ++e)
    offsets[e + 1] = offsets[e] + counts[e];
  int32_t next[4] = {offsets[0], offsets[1], offsets[2], offsets[3]};
  for (int64_t t = 0; t < T; ++t) {
    int best = 0;
    for (int e = 1; e < 4; ++e)
      if (x[t * 8 + e] > x[t * 8 + best])
        best = e;
    perm[next[best]++] = (int32_t)t;
  }
}

/* xp[r, :] = x[perm[r], :] for rows r in [begin, end); H = 8. */
KERNEL void moert_test_permute8(void *const *args, int64_t T, int64_t begin,
                                int64_t end) {
  const float *x = (const float *)args[0];
  const int32_t *perm = (const int32_t *)args[1];
  float *xp = (float *)args[2];
  (void)T;
  for (int64_t r = begin; r < end; ++r)
    for (int h = 0; h < 8; ++h)
      xp[r * 8 + h] = x[(int64_t)perm[r] * 8 + h];
}

/* y[perm[r], :] = yp[r, :] for rows r in [begin, end); H = 8. */
KERNEL void moert_test_unpermute8(void *const *args, int64_t T, int64_t begin,
                                  int64_t end) {
  const float *yp = (const float *)args[0];
  const int32_t *perm = (const int32_t *)args[1];
  float *y = (float *)args[2];
  (void)T;
  for (int64_t r = begin; r < end; ++r)
    for (int h = 0; h < 8; ++h)
      y[(int64_t)perm[r] * 8 + h] = yp[r * 8 + h];
}
