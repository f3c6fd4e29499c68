// reference.cpp — the naive double-precision nanochat A model for the tests (see reference.h).
#include "reference.h"

#include <cmath>
#include <cstring>
#include <random>

namespace {

const double kEps = 1.1920928955078125e-07;  // torch.finfo(torch.float32).eps

void rms(std::vector<double>& v, size_t off, int n) {
  double ss = 0;
  for (int i = 0; i < n; i++) ss += v[off + i] * v[off + i];
  double r = 1.0 / std::sqrt(ss / n + kEps);
  for (int i = 0; i < n; i++) v[off + i] *= r;
}

// y[N, out] = x[N, in] W^T
std::vector<double> linear(const std::vector<double>& x, const std::vector<double>& W, int N, int in, int out) {
  std::vector<double> y((size_t)N * out, 0.0);
  for (int n = 0; n < N; n++)
    for (int o = 0; o < out; o++) {
      double s = 0;
      for (int i = 0; i < in; i++) s += x[(size_t)n * in + i] * W[(size_t)o * in + i];
      y[(size_t)n * out + o] = s;
    }
  return y;
}

}  // namespace

double RefModel::forward(const int32_t* inputs, const int32_t* targets, int B, int T, std::vector<double>* logits,
                         std::vector<double>* losses) const {
  const int V = cfg.vocab_size, C = cfg.n_embd, H = cfg.n_head, Hkv = cfg.n_kv_head, D = C / H, L = cfg.n_layer;
  const int N = B * T;
  std::vector<double> x((size_t)N * C);
  for (int n = 0; n < N; n++)
    for (int c = 0; c < C; c++) x[(size_t)n * C + c] = params[0][(size_t)inputs[n] * C + c];
  for (int n = 0; n < N; n++) rms(x, (size_t)n * C, C);

  for (int l = 0; l < L; l++) {
    const auto& Wq = params[1 + 6 * l];
    const auto& Wk = params[2 + 6 * l];
    const auto& Wv = params[3 + 6 * l];
    const auto& Wo = params[4 + 6 * l];
    const auto& Wfc = params[5 + 6 * l];
    const auto& Wmp = params[6 + 6 * l];
    std::vector<double> xn = x;
    for (int n = 0; n < N; n++) rms(xn, (size_t)n * C, C);
    std::vector<double> q = linear(xn, Wq, N, C, H * D);
    std::vector<double> k = linear(xn, Wk, N, C, Hkv * D);
    std::vector<double> v = linear(xn, Wv, N, C, Hkv * D);
    // rotary, then per-head rmsnorm, on q and k
    auto rope_norm = [&](std::vector<double>& t, int heads) {
      for (int n = 0; n < N; n++) {
        const int pos = n % T;
        for (int h = 0; h < heads; h++) {
          const size_t o = ((size_t)n * heads + h) * D;
          for (int j = 0; j < D / 2; j++) {
            double ang = pos * std::pow((double)cfg.rotary_base, -2.0 * j / D);
            double x1 = t[o + j], x2 = t[o + j + D / 2];
            t[o + j] = x1 * std::cos(ang) + x2 * std::sin(ang);
            t[o + j + D / 2] = -x1 * std::sin(ang) + x2 * std::cos(ang);
          }
          rms(t, o, D);
        }
      }
    };
    rope_norm(q, H);
    rope_norm(k, Hkv);
    std::vector<double> y((size_t)N * C, 0.0);
    for (int b = 0; b < B; b++)
      for (int h = 0; h < H; h++) {
        const int g = h / (H / Hkv);
        for (int t = 0; t < T; t++) {
          std::vector<double> s(t + 1);
          double mx = -1e300;
          for (int u = 0; u <= t; u++) {
            double d = 0;
            for (int i = 0; i < D; i++)
              d += q[((size_t)(b * T + t) * H + h) * D + i] * k[((size_t)(b * T + u) * Hkv + g) * D + i];
            s[u] = d / std::sqrt((double)D);
            mx = std::max(mx, s[u]);
          }
          double z = 0;
          for (int u = 0; u <= t; u++) z += (s[u] = std::exp(s[u] - mx));
          for (int u = 0; u <= t; u++)
            for (int i = 0; i < D; i++)
              y[(size_t)(b * T + t) * C + h * D + i] += s[u] / z * v[((size_t)(b * T + u) * Hkv + g) * D + i];
        }
      }
    std::vector<double> ao = linear(y, Wo, N, C, C);
    for (size_t i = 0; i < x.size(); i++) x[i] += ao[i];
    xn = x;
    for (int n = 0; n < N; n++) rms(xn, (size_t)n * C, C);
    std::vector<double> hfc = linear(xn, Wfc, N, C, 4 * C);
    for (double& e : hfc) e = e > 0 ? e * e : 0.0;
    std::vector<double> mo = linear(hfc, Wmp, N, 4 * C, C);
    for (size_t i = 0; i < x.size(); i++) x[i] += mo[i];
  }
  for (int n = 0; n < N; n++) rms(x, (size_t)n * C, C);
  std::vector<double> lg = linear(x, params[1 + 6 * L], N, C, V);
  if (cfg.softcap > 0)
    for (double& e : lg) e = cfg.softcap * std::tanh(e / cfg.softcap);
  if (logits) *logits = lg;
  if (losses) losses->assign((size_t)N, 0.0);
  double sum = 0;
  int valid = 0;
  if (targets) {
    for (int n = 0; n < N; n++) {
      if (targets[n] < 0) continue;
      double mx = -1e300;
      for (int j = 0; j < V; j++) mx = std::max(mx, lg[(size_t)n * V + j]);
      double z = 0;
      for (int j = 0; j < V; j++) z += std::exp(lg[(size_t)n * V + j] - mx);
      double ce = mx + std::log(z) - lg[(size_t)n * V + targets[n]];
      if (losses) (*losses)[(size_t)n] = ce;
      sum += ce;
      valid++;
    }
  }
  return valid ? sum / valid : 0.0;
}

RefModel ref_from_model(NcModel* model) {
  RefModel r;
  nc_model_get_config(model, &r.cfg);
  int32_t n = 0;
  nc_model_num_params(model, &n);
  for (int i = 0; i < n; i++) {
    NcParamInfo info;
    nc_model_param_info(model, i, &info);
    std::vector<float> f((size_t)info.numel);
    nc_model_param_read(model, i, f.data(), info.numel);
    r.params.emplace_back(f.begin(), f.end());
  }
  return r;
}

int32_t test_compute_dtype() {
  NcDeviceInfo info;
  std::memset(&info, 0, sizeof info);
  if (nc_device_info(0, &info) != NC_OK) return NC_DTYPE_F32;
  return (info.compute_dtypes & (1u << NC_DTYPE_F32)) ? NC_DTYPE_F32 : NC_DTYPE_BF16;
}

NcModelConfig tiny_config() {
  NcModelConfig c;
  std::memset(&c, 0, sizeof c);
  c.compute_dtype = test_compute_dtype();
  c.vocab_size = 37;
  c.n_layer = 2;
  c.n_head = 4;
  c.n_kv_head = 2;
  c.n_embd = 16;
  c.sequence_len = 8;
  c.max_batch = 2;
  c.rotary_base = 10000.0f;
  c.softcap = 15.0f;
  return c;
}

void randomize_params(NcModel* model, uint64_t seed, double scale) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> nd(0.0, 1.0);
  int32_t n = 0;
  nc_model_num_params(model, &n);
  for (int i = 0; i < n; i++) {
    NcParamInfo info;
    nc_model_param_info(model, i, &info);
    const double std_ = i == 0 ? 1.0 : scale / std::sqrt((double)info.shape[1]);
    std::vector<float> f((size_t)info.numel);
    for (float& e : f) e = (float)(std_ * nd(rng));
    nc_model_param_write(model, i, f.data(), info.numel);
  }
}

std::vector<double> ref_newton_schulz(const std::vector<double>& G, int rows, int cols) {
  const bool tall = rows > cols;
  const int m = tall ? cols : rows, n = tall ? rows : cols;
  std::vector<double> X((size_t)(m * n));
  for (int i = 0; i < rows; i++)
    for (int j = 0; j < cols; j++) X[(size_t)(tall ? j * rows + i : i * cols + j)] = G[(size_t)(i * cols + j)];
  double nrm = 0;
  for (double e : X) nrm += e * e;
  nrm = std::sqrt(nrm) + 1e-7;
  for (double& e : X) e /= nrm;
  const double a = 3.4445, b = -4.7750, c = 2.0315;
  for (int it = 0; it < 5; it++) {
    std::vector<double> A((size_t)(m * m), 0.0), Bm((size_t)(m * m), 0.0), Y((size_t)(m * n), 0.0);
    for (int i = 0; i < m; i++)
      for (int j = 0; j < m; j++)
        for (int k = 0; k < n; k++) A[(size_t)(i * m + j)] += X[(size_t)(i * n + k)] * X[(size_t)(j * n + k)];
    for (int i = 0; i < m; i++)
      for (int j = 0; j < m; j++) {
        double s = 0;
        for (int k = 0; k < m; k++) s += A[(size_t)(i * m + k)] * A[(size_t)(k * m + j)];
        Bm[(size_t)(i * m + j)] = b * A[(size_t)(i * m + j)] + c * s;
      }
    for (int i = 0; i < m; i++)
      for (int j = 0; j < n; j++) {
        double s = 0;
        for (int k = 0; k < m; k++) s += Bm[(size_t)(i * m + k)] * X[(size_t)(k * n + j)];
        Y[(size_t)(i * n + j)] = a * X[(size_t)(i * n + j)] + s;
      }
    X = Y;
  }
  std::vector<double> out((size_t)(rows * cols));
  for (int i = 0; i < rows; i++)
    for (int j = 0; j < cols; j++) out[(size_t)(i * cols + j)] = X[(size_t)(tall ? j * rows + i : i * cols + j)];
  return out;
}

