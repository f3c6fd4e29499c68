// selftest_main.cpp — nanochat_cuda_selftest: the GPU machine's native counterpart of
// `nanochat gpu-selftest` and `nanochat gpu-bench` (the device check has no Deno). It opens two backend
// libraries through the C ABI exactly as the FFI does (dlopen, RTLD_LOCAL: both export the same names):
// the cuda backend under test and the cpu backend as the reference.
//
//   nanochat_cuda_selftest --cuda libnanochat_cuda.so --cpu libnanochat_cpu.so [--bench [--depths 12,20]
//                          [--batch 32] [--seq 2048] [--steps 5]] [--dump DIR]
//
// Checks (bounds as in src/gpu/selftest.ts and the ABI tests' bf16 bounds): init bit-identical, forward
// logits, per-token losses, every gradient, KV-cache prefill logits, 5 training steps' losses.
// --dump DIR writes the checks' weights, batch, and the cuda backend's logits, loss and gradients as
// .npy files for torch_compare.py. --bench times forward+backward and the optimizer step per depth.
// Exit: 0 all passed, 1 a check failed, 2 no GPU / library not loadable.
#include <dlfcn.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "nanochat.h"

namespace {

// The C ABI calls this program makes, resolved from one library.
struct Api {
  void* handle = nullptr;
  std::string path;
#define NC_FN(name) decltype(&::name) name = nullptr;
#define NC_FNS(X)                                                                                            \
  X(nc_abi_version) X(nc_backend_name) X(nc_last_error) X(nc_status_string) X(nc_device_count)              \
  X(nc_device_info) X(nc_context_create) X(nc_context_destroy) X(nc_model_create) X(nc_model_destroy)       \
  X(nc_model_num_params) X(nc_model_param_info) X(nc_model_param_read) X(nc_model_param_write)               \
  X(nc_model_grad_read) X(nc_model_init_weights) X(nc_model_zero_grad) X(nc_model_forward_backward)          \
  X(nc_model_loss_stats) X(nc_model_forward_logits) X(nc_model_forward_losses) X(nc_model_optim_step)        \
  X(nc_kvcache_create) X(nc_kvcache_destroy) X(nc_model_prefill) X(nc_count_params)
  NC_FNS(NC_FN)
#undef NC_FN
};

bool load(Api& a, const std::string& path) {
  a.path = path;
  a.handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!a.handle) {
    std::fprintf(stderr, "cannot load %s: %s\n", path.c_str(), dlerror());
    return false;
  }
  bool ok = true;
#define NC_SYM(name)                                                                   \
  a.name = reinterpret_cast<decltype(a.name)>(dlsym(a.handle, #name));                 \
  if (!a.name) {                                                                       \
    std::fprintf(stderr, "%s lacks %s\n", path.c_str(), #name);                        \
    ok = false;                                                                        \
  }
  NC_FNS(NC_SYM)
#undef NC_SYM
  if (ok && a.nc_abi_version() != NC_ABI_VERSION) {
    std::fprintf(stderr, "%s implements ABI %d, this program %d\n", path.c_str(), a.nc_abi_version(), NC_ABI_VERSION);
    ok = false;
  }
  return ok;
}

[[noreturn]] void die(const Api& a, int32_t st, const char* what, const NcContext* ctx) {
  std::fprintf(stderr, "%s (%s): %s: %s\n", what, a.path.c_str(), a.nc_status_string(st), a.nc_last_error(ctx));
  std::exit(1);
}
#define CALL(api, ctx, expr)                          \
  do {                                                \
    const int32_t st_ = (api).expr;                   \
    if (st_ != NC_OK) die((api), st_, #expr, (ctx)); \
  } while (0)

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

// One backend's context and model.
struct Side {
  const Api* api;
  NcContext* ctx = nullptr;
  NcModel* m = nullptr;
  Side(const Api& a, int32_t device, const NcModelConfig& cfg, uint32_t flags = 0) : api(&a) {
    NcContextConfig cc;
    std::memset(&cc, 0, sizeof cc);
    cc.device = device;
    cc.flags = flags;
    CALL(a, nullptr, nc_context_create(&cc, &ctx));
    CALL(a, ctx, nc_model_create(ctx, &cfg, &m));
  }
  ~Side() {
    api->nc_model_destroy(m);
    api->nc_context_destroy(ctx);
  }
  int32_t num_params() const {
    int32_t n = 0;
    CALL(*api, ctx, nc_model_num_params(m, &n));
    return n;
  }
  NcParamInfo info(int i) const {
    NcParamInfo p;
    CALL(*api, ctx, nc_model_param_info(m, i, &p));
    return p;
  }
  std::vector<float> param(int i) const {
    std::vector<float> v((size_t)info(i).numel);
    CALL(*api, ctx, nc_model_param_read(m, i, v.data(), (int64_t)v.size()));
    return v;
  }
  std::vector<float> grad(int i) const {
    std::vector<float> v((size_t)info(i).numel);
    CALL(*api, ctx, nc_model_grad_read(m, i, v.data(), (int64_t)v.size()));
    return v;
  }
  float fwd_bwd(const std::vector<int32_t>& x, const std::vector<int32_t>& y, int B, int T) const {
    CALL(*api, ctx, nc_model_forward_backward(m, x.data(), y.data(), B, T, 1.0f));
    NcLossStats s;
    CALL(*api, ctx, nc_model_loss_stats(m, &s));
    return (float)s.last_loss;
  }
};

double rel_err(const std::vector<float>& a, const std::vector<float>& b) {
  double num = 0, den = 1e-30;
  for (size_t i = 0; i < a.size(); i++) {
    num = std::max(num, (double)std::fabs(a[i] - b[i]));
    den = std::max(den, (double)std::fabs(b[i]));
  }
  return num / den;
}

std::vector<int32_t> tokens(size_t n, int vocab, uint32_t seed) {
  std::vector<int32_t> v(n);
  for (auto& t : v) {
    seed = seed * 1103515245u + 12345u;
    t = (int32_t)((seed >> 8) % (uint32_t)vocab);
  }
  return v;
}

NcOptimStep optim_step() {
  NcOptimStep s;
  std::memset(&s, 0, sizeof s);
  s.lr_embedding = 0.2;
  s.lr_unembedding = 0.004;
  s.lr_matrix = 0.02;
  s.muon_momentum = 0.9;
  s.adam_beta1 = 0.8;
  s.adam_beta2 = 0.95;
  s.adam_eps = 1e-10;
  s.grad_scale = 1.0;
  return s;
}

// A float32 or int32 .npy file (version 1.0, C order).
void write_npy(const std::string& path, const void* data, size_t n, bool is_int, const std::vector<int64_t>& shape) {
  std::string dims;
  for (int64_t d : shape) dims += std::to_string(d) + ",";
  std::string header = "{'descr': '" + std::string(is_int ? "<i4" : "<f4") + "', 'fortran_order': False, 'shape': (" +
                       dims + "), }";
  while ((10 + header.size() + 1) % 64) header += ' ';
  header += '\n';
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) {
    std::fprintf(stderr, "cannot write %s\n", path.c_str());
    std::exit(1);
  }
  const unsigned char magic[8] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0};
  const uint16_t hlen = (uint16_t)header.size();
  std::fwrite(magic, 1, 8, f);
  std::fwrite(&hlen, 2, 1, f);
  std::fwrite(header.data(), 1, header.size(), f);
  std::fwrite(data, 4, n, f);
  std::fclose(f);
}

struct Row {
  std::string check;
  double value, bound;
};

int run_checks(const Api& cuda, const Api& cpu, const std::string& dump) {
  NcModelConfig cfg;
  std::memset(&cfg, 0, sizeof cfg);
  cfg.vocab_size = 256;
  cfg.n_layer = 2;
  cfg.n_head = 1;
  cfg.n_kv_head = 1;
  cfg.n_embd = 128;
  cfg.sequence_len = 32;
  cfg.max_batch = 2;
  cfg.rotary_base = 10000.0f;
  cfg.softcap = 15.0f;
  const int B = 2, T = 32;
  NcModelConfig gcfg = cfg;
  gcfg.compute_dtype = NC_DTYPE_BF16;
  Side g(cuda, NC_DEVICE_CUDA, gcfg), c(cpu, NC_DEVICE_CPU, cfg);
  std::vector<Row> rows;
  CALL(cuda, g.ctx, nc_model_init_weights(g.m, 7));
  CALL(cpu, c.ctx, nc_model_init_weights(c.m, 7));
  double init = 0;
  for (int i = 0; i < c.num_params(); i++) init = std::max(init, rel_err(g.param(i), c.param(i)));
  rows.push_back({"init weights (documented RNG), max diff", init, 1e-300});
  // nanochat zero-inits lm_head and the c_proj weights: uniform values everywhere so all paths count
  uint32_t s = 12345;
  for (int i = 0; i < c.num_params(); i++) {
    const NcParamInfo info = c.info(i);
    std::vector<float> p((size_t)info.numel);
    const double scale = 1.7 / std::sqrt((double)info.shape[1]);
    for (float& e : p) {
      s = s * 1103515245u + 12345u;
      e = (float)(scale * ((double)(s >> 8) / 8388608.0 - 1.0));
    }
    CALL(cpu, c.ctx, nc_model_param_write(c.m, i, p.data(), info.numel));
    CALL(cuda, g.ctx, nc_model_param_write(g.m, i, p.data(), info.numel));
    if (!dump.empty()) write_npy(dump + "/param_" + std::to_string(i) + ".npy", p.data(), p.size(), false,
                                 {info.shape[0], info.shape[1]});
  }
  const std::vector<int32_t> x = tokens((size_t)B * T, cfg.vocab_size, 11), y = tokens((size_t)B * T, cfg.vocab_size, 12);
  const size_t NV = (size_t)B * T * cfg.vocab_size;
  std::vector<float> lg(NV), lc(NV), sg((size_t)B * T), sc((size_t)B * T);
  CALL(cuda, g.ctx, nc_model_forward_logits(g.m, x.data(), B, T, lg.data()));
  CALL(cpu, c.ctx, nc_model_forward_logits(c.m, x.data(), B, T, lc.data()));
  rows.push_back({"forward logits", rel_err(lg, lc), 3e-2});
  CALL(cuda, g.ctx, nc_model_forward_losses(g.m, x.data(), y.data(), B, T, sg.data()));
  CALL(cpu, c.ctx, nc_model_forward_losses(c.m, x.data(), y.data(), B, T, sc.data()));
  rows.push_back({"per-token losses", rel_err(sg, sc), 1e-2});
  CALL(cuda, g.ctx, nc_model_zero_grad(g.m));
  CALL(cpu, c.ctx, nc_model_zero_grad(c.m));
  const float loss_g = g.fwd_bwd(x, y, B, T);
  c.fwd_bwd(x, y, B, T);
  double worst = 0;
  for (int i = 0; i < c.num_params(); i++) {
    std::vector<float> gg = g.grad(i);
    worst = std::max(worst, rel_err(gg, c.grad(i)));
    if (!dump.empty()) write_npy(dump + "/grad_" + std::to_string(i) + ".npy", gg.data(), gg.size(), false,
                                 {c.info(i).shape[0], c.info(i).shape[1]});
  }
  rows.push_back({"gradients (worst tensor)", worst, 0.2});
  if (!dump.empty()) {
    write_npy(dump + "/inputs.npy", x.data(), x.size(), true, {B, T});
    write_npy(dump + "/targets.npy", y.data(), y.size(), true, {B, T});
    write_npy(dump + "/logits.npy", lg.data(), lg.size(), false, {B, T, cfg.vocab_size});
    write_npy(dump + "/loss.npy", &loss_g, 1, false, {1});
    FILE* f = std::fopen((dump + "/config.json").c_str(), "w");
    std::fprintf(f, "{\"vocab_size\": %d, \"n_layer\": %d, \"n_head\": %d, \"n_kv_head\": %d, \"n_embd\": %d, "
                 "\"rotary_base\": %g, \"softcap\": %g}\n",
                 cfg.vocab_size, cfg.n_layer, cfg.n_head, cfg.n_kv_head, cfg.n_embd, cfg.rotary_base, cfg.softcap);
    std::fclose(f);
  }
  {
    NcKVCache *kg = nullptr, *kc = nullptr;
    CALL(cuda, g.ctx, nc_kvcache_create(g.m, B, T, &kg));
    CALL(cpu, c.ctx, nc_kvcache_create(c.m, B, T, &kc));
    std::vector<int32_t> half;
    for (int b = 0; b < B; b++) half.insert(half.end(), x.begin() + b * T, x.begin() + b * T + T / 2);
    std::vector<float> pg((size_t)B * cfg.vocab_size), pc(pg.size());
    CALL(cuda, g.ctx, nc_model_prefill(g.m, kg, half.data(), B, T / 2, pg.data()));
    CALL(cpu, c.ctx, nc_model_prefill(c.m, kc, half.data(), B, T / 2, pc.data()));
    rows.push_back({"KV-cache prefill logits", rel_err(pg, pc), 3e-2});
    cuda.nc_kvcache_destroy(kg);
    cpu.nc_kvcache_destroy(kc);
  }
  double lossdiff = 0;
  const NcOptimStep step = optim_step();
  for (int k = 0; k < 5; k++) {
    const auto xs = tokens((size_t)B * T, cfg.vocab_size, 100 + k), ys = tokens((size_t)B * T, cfg.vocab_size, 200 + k);
    CALL(cuda, g.ctx, nc_model_zero_grad(g.m));
    CALL(cpu, c.ctx, nc_model_zero_grad(c.m));
    const double a = g.fwd_bwd(xs, ys, B, T), b = c.fwd_bwd(xs, ys, B, T);
    CALL(cuda, g.ctx, nc_model_optim_step(g.m, &step));
    CALL(cpu, c.ctx, nc_model_optim_step(c.m, &step));
    lossdiff = std::max(lossdiff, std::fabs(a - b) / b);
  }
  rows.push_back({"5 training steps: losses", lossdiff, 2e-2});

  int failed = 0;
  std::printf("nanochat_cuda_selftest: %s vs %s\n", cuda.path.c_str(), cpu.path.c_str());
  for (const Row& r : rows) {
    const bool ok = r.check.rfind("init", 0) == 0 ? r.value == 0.0 : r.value < r.bound;
    failed += !ok;
    std::printf("  %s  %-42s %10.3e  < %.1e\n", ok ? "ok  " : "FAIL", r.check.c_str(), r.value,
                r.check.rfind("init", 0) == 0 ? 0.0 : r.bound);
  }
  std::printf("%s\n", failed ? "SELFTEST FAILED" : "all checks passed");
  return failed ? 1 : 0;
}

// bf16 dense peak of the GPU by name (nanochat's table; 0 = unknown).
double peak_flops(const char* name) {
  const std::string n = name;
  if (n.find("H100") != std::string::npos && n.find("PCIe") != std::string::npos) return 756e12;
  if (n.find("H100") != std::string::npos || n.find("H200") != std::string::npos) return 989e12;
  if (n.find("A100") != std::string::npos) return 312e12;
  return 0;
}

int run_bench(const Api& cuda, const std::vector<int>& depths, int B, int T, int steps) {
  NcDeviceInfo dev;
  CALL(cuda, nullptr, nc_device_info(0, &dev));
  const double peak = peak_flops(dev.name);
  std::printf("bench on %s (peak %.0f TFLOP/s bf16)\n", dev.name, peak / 1e12);
  std::printf("  depth  params   B x T       tok/s     MFU  micro-batch  optim step  step(524k tok)  GEMM share\n");
  for (int depth : depths) {
    NcModelConfig cfg;
    std::memset(&cfg, 0, sizeof cfg);
    cfg.vocab_size = 65536;
    cfg.n_layer = depth;
    cfg.n_embd = 64 * depth;
    cfg.n_head = (cfg.n_embd + 127) / 128;
    cfg.n_kv_head = cfg.n_head;
    cfg.sequence_len = T;
    cfg.max_batch = B;
    cfg.rotary_base = 10000.0f;
    cfg.softcap = 15.0f;
    cfg.compute_dtype = NC_DTYPE_BF16;
    NcParamCounts pc;
    CALL(cuda, nullptr, nc_count_params(&cfg, &pc));
    Side g(cuda, NC_DEVICE_CUDA, cfg, NC_CONTEXT_PROFILE);
    CALL(cuda, g.ctx, nc_model_init_weights(g.m, 1));
    const auto x = tokens((size_t)B * T, cfg.vocab_size, 1), y = tokens((size_t)B * T, cfg.vocab_size, 2);
    CALL(cuda, g.ctx, nc_model_zero_grad(g.m));
    g.fwd_bwd(x, y, B, T);  // warm-up
    std::vector<double> times;
    for (int k = 0; k < steps; k++) {
      const double t0 = now();
      g.fwd_bwd(x, y, B, T);
      times.push_back(now() - t0);
    }
    std::sort(times.begin(), times.end());
    const double micro = times[times.size() / 2];
    const NcOptimStep step = optim_step();
    CALL(cuda, g.ctx, nc_model_optim_step(g.m, &step));
    const double t0 = now();
    CALL(cuda, g.ctx, nc_model_optim_step(g.m, &step));
    const double opt = now() - t0;
    const double tps = (double)B * T / micro;
    const int accum = std::max(1, (int)std::lround(524288.0 / ((double)B * T)));
    std::printf("  d%-5d %6.1fM  %3d x %-5d %9.0f  %5.1f%%  %8.1f ms  %7.1f ms  %11.3f s\n", depth, pc.total / 1e6,
                B, T, tps, peak > 0 ? 100.0 * pc.flops_per_token * tps / peak : 0.0, micro * 1e3, opt * 1e3,
                accum * micro + opt);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string cuda_path = "libnanochat_cuda.so", cpu_path = "libnanochat_cpu.so", dump;
  bool bench = false;
  std::vector<int> depths = {12, 20};
  int B = 32, T = 2048, steps = 5;
  for (int i = 1; i < argc; i++) {
    const std::string a = argv[i];
    auto next = [&]() { return i + 1 < argc ? std::string(argv[++i]) : std::string(); };
    if (a == "--cuda") cuda_path = next();
    else if (a == "--cpu") cpu_path = next();
    else if (a == "--dump") dump = next();
    else if (a == "--bench") bench = true;
    else if (a == "--batch") B = std::atoi(next().c_str());
    else if (a == "--seq") T = std::atoi(next().c_str());
    else if (a == "--steps") steps = std::atoi(next().c_str());
    else if (a == "--depths") {
      depths.clear();
      std::string v = next();
      for (size_t p = 0; p < v.size();) {
        const size_t q = v.find(',', p);
        depths.push_back(std::atoi(v.substr(p, q - p).c_str()));
        p = q == std::string::npos ? v.size() : q + 1;
      }
    } else {
      std::fprintf(stderr, "usage: %s --cuda LIB --cpu LIB [--dump DIR] [--bench [--depths 12,20] [--batch 32] "
                   "[--seq 2048] [--steps 5]]\n", argv[0]);
      return 2;
    }
  }
  Api cuda, cpu;
  if (!load(cuda, cuda_path)) return 2;
  int32_t n = 0;
  if (cuda.nc_device_count(&n) != NC_OK || n < 1) {
    std::fprintf(stderr, "no GPU: %s\n", cuda.nc_last_error(nullptr));
    return 2;
  }
  if (bench) return run_bench(cuda, depths, B, T, std::max(1, steps));
  if (!load(cpu, cpu_path)) return 2;
  if (!dump.empty()) mkdir(dump.c_str(), 0755);
  return run_checks(cuda, cpu, dump);
}
