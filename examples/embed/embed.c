/* Embedding libmoert from C: load an artifact, run its function on T = 2
 * tokens of an f32 [T, H] input holding 0, 1, 2, ..., print the first row. */
#include <moert/moert.h>
#include <stdio.h>
#include <stdlib.h>

static void check(moert_status_t *status, const char *what) {
  if (!status)
    return;
  fprintf(stderr, "error: %s: %s\n", what, moert_status_message(status));
  moert_status_free(status);
  exit(1);
}

int main(int argc, char **argv) {
  moert_model_t *model = NULL;
  moert_session_t *session = NULL;
  moert_tensor_info_t info;
  if (argc != 2) {
    fprintf(stderr, "usage: embed model.moeb\n");
    return 1;
  }
  check(moert_model_load_file(argv[1], &model), "load");
  check(moert_model_tensor_info(model, 0, MOERT_TENSOR_INPUT, 0, &info), "input 0");
  if (info.dtype != MOERT_F32 || info.rank != 2 || info.shape[0] != -1) {
    fprintf(stderr, "error: input '%s' is not f32 [T, H]\n", info.name);
    return 1;
  }
  check(moert_session_create(model, "cpu", NULL, &session), "session");

  int64_t T = 2, H = info.shape[1];
  float *x = malloc(sizeof(float) * (size_t)(T * H));
  for (int64_t i = 0; i < T * H; ++i)
    x[i] = (float)i;
  moert_tensor_t input = {MOERT_F32, 2, {T, H}, x, sizeof(float) * (size_t)(T * H)};
  check(moert_session_run(session, NULL, &input, 1, NULL, 0), "run");

  moert_tensor_t y;
  check(moert_session_output(session, 0, &y), "output 0");
  printf("%s: %s [%lld, %lld]\ny[0] =", moert_model_function_name(model, 0),
         moert_dtype_name(y.dtype), (long long)y.shape[0], (long long)y.shape[1]);
  for (int64_t j = 0; j < y.shape[1] && y.dtype == MOERT_F32; ++j)
    printf(" %g", ((const float *)y.data)[j]);
  printf("\n");

  free(x);
  moert_session_free(session);
  moert_model_free(model);
  return 0;
}
