// workspace.cpp — activation memory. One allocation per workspace, carved into the buffers listed in
// internal.h. Training workspaces keep every layer's activations for the backward pass; inference
// workspaces (eval calls, KV-cache prefill/decode) keep one layer's worth and reuse it. Workspaces grow
// to the largest B*T seen and are never shrunk.
#include "errors.h"
#include "internal.h"

namespace nc {

int32_t workspace_ensure(NcModel* m, Workspace& ws, int64_t rows, bool train, bool head) {
  if (workspace_serves(ws, ws.mem.p != nullptr, rows, train, head)) return NC_OK;
  const WorkspacePlan plan = plan_workspace(*m, ws, rows, train, head);
  const int64_t N = plan.rows, chunk = plan.chunk_rows, nslots = plan.layer_slots;
  const int64_t C = m->C, QKV = m->QKV, F = m->F, H = m->H, Hkv = m->Hkv, V = m->V;
  const int64_t per_layer = N * (C + 1 + QKV + (H + Hkv) + C + H + C + 1 + F);
  int64_t total = nslots * per_layer;
  total += N * C /*x*/ + N * C + N /*x0, r0*/ + N * C + N /*xf, rf*/ + N * F /*act4*/ + chunk * V + N /*losses*/;
  if (train) total += 3 * N * C + N * QKV + N;
  ws.mem.release();
  ws.acts.clear();
  ws.rows = 0;
  if (!ws.mem.alloc(total, false))
    NC_FAIL(m->ctx, NC_ERR_OUT_OF_MEMORY, "out of memory allocating %s activations for %lld rows (%.1f MiB)",
            train ? "training" : "inference", (long long)N, (double)total * 4.0 / 1048576.0);
  float* p = ws.mem.p;
  auto take = [&p](int64_t n) {
    float* r = p;
    p += n;
    return r;
  };
  ws.acts.resize((size_t)nslots);
  for (LayerActs& a : ws.acts) {
    a.xn1 = take(N * C);
    a.r1 = take(N);
    a.qkv = take(N * QKV);
    a.rqk = take(N * (H + Hkv));
    a.att = take(N * C);
    a.lse = take(N * H);
    a.xn2 = take(N * C);
    a.r2 = take(N);
    a.h = take(N * F);
  }
  ws.x = take(N * C);
  ws.x0 = take(N * C);
  ws.r0 = take(N);
  ws.xf = take(N * C);
  ws.rf = take(N);
  ws.act4 = take(N * F);
  ws.logits = take(chunk * V);
  ws.losses = take(N);
  if (train) {
    ws.dx = take(N * C);
    ws.dxn = take(N * C);
    ws.datt = take(N * C);
    ws.dqkv = take(N * QKV);
    ws.dscale = take(N);
  } else {
    ws.dx = ws.dxn = ws.datt = ws.dqkv = ws.dscale = nullptr;
  }
  ws.rows = N;
  ws.chunk_rows = chunk;
  ws.train = train;
  return NC_OK;
}

}  // namespace nc
