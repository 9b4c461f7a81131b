// The ggml peer of `make bench` (bench/run_cpu.sh, when MOEC_GGML_DIR names a
// ggml build): one MoE FFN layer as llama.cpp's build_moe_ffn builds it
// (router mul_mat, softmax, top-k, weights get_rows and renormalized,
// mul_mat_id gate and up, swiglu, mul_mat_id down, weighted, summed over
// the k slots), on ggml's CPU backend, at moe-bench's shapes, with the
// expert weights in one ggml type, timed as moe-bench times (warm-up, then
// the median of runs, each after reading 128 MiB so that the weights come
// from memory). Never built by the tests or CI.
//
// usage: ggml_peer --shape NAME --hidden H --ffn F --experts E --topk K
//                  --type f32|bf16|f16|q8_0|q4_0|q4_k --tokens T,... --threads N
//                  [--repack] [--min-time S]
// prints CSV: shape,type,threads,T,runs,median_ms,min_ms
#include "ggml-alloc.h"
#include "ggml-backend.h"
#include "ggml-cpu.h"
#include "ggml.h"

#include "EvictCaches.h" // tools/moe-bench: the same eviction as moe-bench's

#include <algorithm>
#include <cmath>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace {

struct Options {
  std::string shape = "custom", type = "f32";
  int64_t hidden = 0, ffn = 0, experts = 0, topk = 0;
  std::vector<int64_t> tokens = {1};
  int threads = 2;
  bool repack = false;
  double minTime = 0.5;
};

[[noreturn]] void usage(const char *why) {
  std::fprintf(stderr, "ggml_peer: error: %s\n", why);
  std::exit(2);
}

Options parse(int argc, char **argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc)
        usage((a + " needs a value").c_str());
      return argv[++i];
    };
    if (a == "--shape")
      o.shape = value();
    else if (a == "--hidden")
      o.hidden = std::atoll(value().c_str());
    else if (a == "--ffn")
      o.ffn = std::atoll(value().c_str());
    else if (a == "--experts")
      o.experts = std::atoll(value().c_str());
    else if (a == "--topk")
      o.topk = std::atoll(value().c_str());
    else if (a == "--type")
      o.type = value();
    else if (a == "--threads")
      o.threads = std::atoi(value().c_str());
    else if (a == "--repack")
      o.repack = true;
    else if (a == "--min-time")
      o.minTime = std::atof(value().c_str());
    else if (a == "--tokens") {
      o.tokens.clear();
      std::stringstream ss(value());
      for (std::string t; std::getline(ss, t, ',');)
        o.tokens.push_back(std::atoll(t.c_str()));
    } else
      usage(("unknown option " + a).c_str());
  }
  if (o.hidden < 1 || o.ffn < 1 || o.experts < 1 || o.topk < 1 || o.topk > o.experts)
    usage("--hidden, --ffn, --experts >= 1 and 1 <= --topk <= --experts");
  return o;
}

ggml_type typeOf(const std::string &t) {
  if (t == "f32") return GGML_TYPE_F32;
  if (t == "bf16") return GGML_TYPE_BF16;
  if (t == "f16") return GGML_TYPE_F16;
  if (t == "q8_0") return GGML_TYPE_Q8_0;
  if (t == "q4_0") return GGML_TYPE_Q4_0;
  if (t == "q4_k") return GGML_TYPE_Q4_K;
  usage(("unknown --type " + t).c_str());
}

/// Random values (moe-bench's range: U(-1, 1) / sqrt(K)) in `type`, set
/// whole (a repacked buffer takes a tensor in one piece).
void fill(ggml_tensor *w, ggml_type type, std::mt19937 &rng) {
  int64_t k = w->ne[0], rows = w->ne[1] * w->ne[2];
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  float bound = 1.0f / std::sqrt(static_cast<float>(k));
  std::vector<float> values(static_cast<size_t>(k * rows));
  for (float &v : values)
    v = u(rng) * bound;
  std::vector<uint8_t> out(ggml_row_size(type, k) * rows);
  if (type == GGML_TYPE_F32)
    std::memcpy(out.data(), values.data(), out.size());
  else
    ggml_quantize_chunk(type, values.data(), out.data(), 0, rows, k, nullptr);
  ggml_backend_tensor_set(w, out.data(), 0, out.size());
}

} // namespace

int main(int argc, char **argv) {
  Options o = parse(argc, argv);
  ggml_type type = typeOf(o.type);
  ggml_backend_t be = ggml_backend_cpu_init();
  ggml_backend_cpu_set_n_threads(be, o.threads);
  ggml_backend_buffer_type_t wbuft = ggml_backend_cpu_buffer_type();
  if (o.repack) { // llama.cpp's default: weights repacked for the CPU's kernels
    ggml_backend_dev_t dev = ggml_backend_get_device(be);
    ggml_backend_reg_t reg = ggml_backend_dev_backend_reg(dev);
    auto extra = reinterpret_cast<ggml_backend_dev_get_extra_bufts_t>(
        ggml_backend_reg_get_proc_address(reg, "ggml_backend_dev_get_extra_bufts"));
    for (ggml_backend_buffer_type_t *b = extra ? extra(dev) : nullptr; b && *b; ++b)
      if (std::strcmp(ggml_backend_buft_name(*b), "CPU_REPACK") == 0)
        wbuft = *b;
  }
  const int64_t H = o.hidden, F = o.ffn, E = o.experts, K = o.topk;
  ggml_init_params wp = {4 * ggml_tensor_overhead(), nullptr, true};
  ggml_context *wctx = ggml_init(wp), *rctx = ggml_init(wp);
  ggml_tensor *wr = ggml_new_tensor_2d(rctx, GGML_TYPE_F32, H, E); // the router stays f32
  ggml_tensor *wg = ggml_new_tensor_3d(wctx, type, H, F, E);
  ggml_tensor *wu = ggml_new_tensor_3d(wctx, type, H, F, E);
  ggml_tensor *wd = ggml_new_tensor_3d(wctx, type, F, H, E);
  ggml_backend_buffer_t wbuf = ggml_backend_alloc_ctx_tensors_from_buft(wctx, wbuft);
  ggml_backend_buffer_t rbuf = ggml_backend_alloc_ctx_tensors(rctx, be);
  if (!wbuf || !rbuf)
    usage("cannot allocate the weights");
  std::mt19937 rng(7);
  for (ggml_tensor *w : {wr, wg, wu, wd})
    fill(w, w == wr ? GGML_TYPE_F32 : type, rng);

  std::printf("shape,type,threads,T,runs,median_ms,min_ms\n");
  for (int64_t T : o.tokens) {
    ggml_init_params ip = {64 * ggml_tensor_overhead() + ggml_graph_overhead(), nullptr, true};
    ggml_context *ctx = ggml_init(ip);
    ggml_tensor *x = ggml_new_tensor_2d(ctx, GGML_TYPE_F32, H, T);
    ggml_tensor *logits = ggml_mul_mat(ctx, wr, x);                  // [E, T]
    ggml_tensor *probs = ggml_soft_max(ctx, logits);                 // [E, T]
    ggml_tensor *selected = ggml_argsort_top_k(ctx, probs, K);       // [K, T]
    ggml_tensor *weights = ggml_get_rows(ctx, ggml_reshape_3d(ctx, probs, 1, E, T), selected);
    weights = ggml_reshape_2d(ctx, weights, K, T);
    weights = ggml_div(ctx, weights, ggml_sum_rows(ctx, weights)); // renormalized (Mixtral)
    weights = ggml_reshape_3d(ctx, weights, 1, K, T);
    ggml_tensor *x3 = ggml_reshape_3d(ctx, x, H, 1, T);
    ggml_tensor *gate = ggml_mul_mat_id(ctx, wg, x3, selected);     // [F, K, T]
    ggml_tensor *up = ggml_mul_mat_id(ctx, wu, x3, selected);
    ggml_tensor *act = ggml_swiglu_split(ctx, gate, up);
    ggml_tensor *experts = ggml_mul_mat_id(ctx, wd, act, selected); // [H, K, T]
    experts = ggml_mul(ctx, experts, weights);
    ggml_tensor *out = nullptr;
    for (int64_t i = 0; i < K; ++i) {
      ggml_tensor *slot = ggml_view_2d(ctx, experts, H, T, experts->nb[2], i * experts->nb[1]);
      out = out ? ggml_add(ctx, out, slot) : slot;
    }
    ggml_cgraph *gf = ggml_new_graph(ctx);
    ggml_build_forward_expand(gf, out);
    ggml_backend_buffer_t abuf = ggml_backend_alloc_ctx_tensors(ctx, be);
    std::normal_distribution<float> nd(0.0f, 1.0f);
    std::vector<float> xv(static_cast<size_t>(H * T));
    for (float &v : xv)
      v = nd(rng);
    ggml_backend_tensor_set(x, xv.data(), 0, xv.size() * sizeof(float));
    for (int i = 0; i < 2; ++i)
      ggml_backend_graph_compute(be, gf);
    std::vector<double> ms;
    volatile float sink = 0;
    auto start = std::chrono::steady_clock::now();
    for (;;) {
      sink = sink + moebench::evictCaches();
      auto t0 = std::chrono::steady_clock::now();
      ggml_backend_graph_compute(be, gf);
      auto t1 = std::chrono::steady_clock::now();
      ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
      double elapsed = std::chrono::duration<double>(t1 - start).count();
      if ((ms.size() >= 7 && elapsed >= o.minTime) || ms.size() >= 1000)
        break;
    }
    std::sort(ms.begin(), ms.end());
    double median = ms.size() % 2 ? ms[ms.size() / 2]
                                  : 0.5 * (ms[ms.size() / 2 - 1] + ms[ms.size() / 2]);
    std::printf("%s,%s%s,%d,%lld,%zu,%.4f,%.4f\n", o.shape.c_str(), o.type.c_str(),
                o.repack ? "+repack" : "", o.threads, static_cast<long long>(T), ms.size(),
                median, ms.front());
    std::fflush(stdout);
    ggml_backend_buffer_free(abuf);
    ggml_free(ctx);
  }
  ggml_backend_buffer_free(wbuf);
  ggml_backend_buffer_free(rbuf);
  ggml_free(wctx);
  ggml_free(rctx);
  ggml_backend_free(be);
  return 0;
}
