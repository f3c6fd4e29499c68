// The TypeScript side of the compute library: parameter table, init, determinism, overfitting one batch,
// KV-cache inference against the full forward, checkpoint round trips, input errors, and that long calls
// leave the event loop free.
import { assert, assertEquals, assertRejects, assertThrows } from "@std/assert";
import { UserError } from "../src/common/errors.ts";
import { countParams, type GPTConfig } from "../src/model/config.ts";
import {
  Communicator,
  ComputeContext,
  GPT,
  libraryParamCounts,
  type OptimStepOptions,
} from "../src/model/mod.ts";

const tiny: GPTConfig = { nEmbd: 32, nHead: 4, nKvHead: 2, nLayer: 2, sequenceLen: 16, vocabSize: 64 };

const hyper = (step: number): OptimStepOptions => ({
  lrEmbed: 0.2,
  lrUnembed: 0.02,
  lrMatrix: 0.04,
  muonMomentum: 0.85 + 0.1 * Math.min(1, step / 300),
});

/** Deterministic pseudo-random tokens (an LCG), so the tests need no seedable Math.random. */
function tokens(n: number, vocab: number, seed: number): Int32Array<ArrayBuffer> {
  const out = new Int32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s % vocab;
  }
  return out;
}

/** Inputs and next-token targets for B rows of T tokens. */
function batch(B: number, T: number, vocab: number, seed: number) {
  const seq = tokens(B * (T + 1), vocab, seed);
  const inputs = new Int32Array(B * T);
  const targets = new Int32Array(B * T);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      inputs[b * T + t] = seq[b * (T + 1) + t];
      targets[b * T + t] = seq[b * (T + 1) + t + 1];
    }
  }
  return { inputs, targets };
}

/** Runs `fn` with a fresh context and model, freeing both afterwards. */
async function withModel<R>(
  fn: (m: GPT, ctx: ComputeContext) => Promise<R> | R,
  config: GPTConfig = tiny,
  maxBatch = 2,
): Promise<R> {
  const ctx = ComputeContext.create({ threads: 1 });
  const m = GPT.create(ctx, config, { maxBatch });
  try {
    return await fn(m, ctx);
  } finally {
    m.free();
    ctx.destroy();
  }
}

function stats(a: Float32Array): { mean: number; std: number } {
  let s = 0, s2 = 0;
  for (const x of a) {
    s += x;
    s2 += x * x;
  }
  const mean = s / a.length;
  return { mean, std: Math.sqrt(s2 / a.length - mean * mean) };
}

async function trainLosses(m: GPT, steps: number, seed: number): Promise<number[]> {
  const { inputs, targets } = batch(2, 16, m.config.vocabSize, 7);
  m.initWeights(seed);
  const losses: number[] = [];
  for (let s = 0; s < steps; s++) {
    m.zeroGrad();
    losses.push(await m.forwardBackward(inputs, targets, 2, 16));
    await m.optimStep(hyper(s));
  }
  return losses;
}

Deno.test("parameter table: nanochat state_dict names, shapes and countParams total", () =>
  withModel((m) => {
    const C = tiny.nEmbd, D = C / tiny.nHead, kv = tiny.nKvHead * D, V = tiny.vocabSize;
    const expected: [string, number[]][] = [["transformer.wte.weight", [V, C]]];
    for (let l = 0; l < tiny.nLayer; l++) {
      const h = `transformer.h.${l}`;
      expected.push(
        [`${h}.attn.c_q.weight`, [tiny.nHead * D, C]],
        [`${h}.attn.c_k.weight`, [kv, C]],
        [`${h}.attn.c_v.weight`, [kv, C]],
        [`${h}.attn.c_proj.weight`, [C, C]],
        [`${h}.mlp.c_fc.weight`, [4 * C, C]],
        [`${h}.mlp.c_proj.weight`, [C, 4 * C]],
      );
    }
    expected.push(["lm_head.weight", [V, C]]);
    const params = m.params();
    assertEquals(params.map((p) => [p.name, p.shape]), expected);
    params.forEach((p, i) => {
      assertEquals(p.index, i);
      assertEquals(p.numel, p.shape.reduce((a, b) => a * b, 1));
    });
    assertEquals(params.map((p) => p.group), [0, ...Array(6 * tiny.nLayer).fill(2), 1]);
    assertEquals(m.numParams(), countParams(tiny).total);
    const lib = libraryParamCounts(tiny);
    assertEquals([lib.wte, lib.lmHead, lib.transformer, lib.total, lib.numTensors], [
      countParams(tiny).wte,
      countParams(tiny).lmHead,
      countParams(tiny).transformer,
      countParams(tiny).total,
      params.length,
    ]);
  }));

Deno.test("init statistics follow nanochat: wte N(0,1), zero lm_head and c_proj, scaled Linear std", () => {
  // wider than `tiny` so the sample statistics are tight
  const cfg: GPTConfig = { nEmbd: 128, nHead: 4, nKvHead: 2, nLayer: 2, sequenceLen: 16, vocabSize: 256 };
  return withModel((m) => {
    m.initWeights(1234);
    for (const p of m.params()) {
      const w = m.readParam(p.index);
      const { mean, std } = stats(w);
      if (p.name === "lm_head.weight" || p.name.endsWith(".c_proj.weight")) {
        assert(w.every((x) => x === 0), `${p.name} should be zero`);
        continue;
      }
      let want = 1;
      if (p.name !== "transformer.wte.weight") {
        const [fanOut, fanIn] = p.shape;
        want = 1 / Math.sqrt(fanIn) * Math.min(1, Math.sqrt(fanOut / fanIn));
      }
      assert(Math.abs(std / want - 1) < 0.05, `${p.name}: std ${std}, want ${want}`);
      assert(Math.abs(mean) < 0.05 * want, `${p.name}: mean ${mean}`);
    }
  }, cfg);
});

Deno.test("same seed gives identical losses over 5 steps, another seed different ones", async () => {
  const a = await withModel((m) => trainLosses(m, 5, 42));
  const b = await withModel((m) => trainLosses(m, 5, 42));
  const c = await withModel((m) => trainLosses(m, 5, 43));
  assertEquals(a, b);
  assert(a.every((x) => Number.isFinite(x)));
  // step 0 is log(V) for any seed (zero lm_head); after a step the seeds differ
  assert(Math.abs(a[0] - Math.log(tiny.vocabSize)) < 1e-3, `first loss ${a[0]}`);
  assert(a.slice(1).some((x, i) => x !== c[i + 1]), "different seeds gave the same losses");
});

Deno.test("a tiny model overfits one batch through forwardBackward + optimStep", () =>
  withModel(async (m) => {
    const { inputs, targets } = batch(2, 16, tiny.vocabSize, 43);
    m.initWeights(42);
    let loss = Infinity;
    let step = 0;
    for (; step < 150; step++) {
      m.zeroGrad();
      loss = await m.forwardBackward(inputs, targets, 2, 16);
      if (loss < 0.05) break;
      const norm = m.gradNorm();
      assert(Number.isFinite(norm) && norm > 0, `grad norm ${norm}`);
      await m.optimStep(hyper(step));
    }
    assert(loss < 0.05, `loss ${loss} after ${step} steps`);
    assertEquals(m.getOptimStep(), step);
    // per-token losses agree with the mean loss of forwardBackward
    const per = await m.forwardLosses(inputs, targets, 2, 16);
    const mean = per.reduce((a, b) => a + b, 0) / per.length;
    assert(Math.abs(mean - loss) < 1e-4, `mean per-token loss ${mean} vs ${loss}`);
  }));

Deno.test("KV cache: prefill + decode reproduce forwardLogits at every position", () =>
  withModel(async (m) => {
    m.initWeights(5);
    // train a few steps so lm_head and c_proj are no longer zero (otherwise logits are trivially 0)
    const { inputs, targets } = batch(2, 16, tiny.vocabSize, 11);
    for (let s = 0; s < 3; s++) {
      m.zeroGrad();
      await m.forwardBackward(inputs, targets, 2, 16);
      await m.optimStep(hyper(s));
    }
    const B = 2, T = 12, V = tiny.vocabSize, P = 4;
    const seq = tokens(B * T, V, 99);
    const full = await m.forwardLogits(seq, B, T);
    assert(full.some((x) => Math.abs(x) > 1e-3), "logits are all ~0");
    const cache = m.createKVCache(B, 32);
    const row = (b: number, from: number, n: number) => seq.slice(b * T + from, b * T + from + n);
    const prompt = new Int32Array([...row(0, 0, P), ...row(1, 0, P)]);
    const compare = (got: Float32Array, t: number) => {
      for (let b = 0; b < B; b++) {
        for (let v = 0; v < V; v++) {
          const want = full[(b * T + t) * V + v];
          const diff = Math.abs(got[b * V + v] - want);
          assert(diff < 1e-4, `row ${b} pos ${t} token ${v}: ${got[b * V + v]} vs ${want}`);
        }
      }
    };
    compare(await cache.prefill(prompt, B, P), P - 1);
    assertEquals(cache.pos, P);
    for (let t = P; t < T; t++) {
      const tok = new Int32Array([seq[t], seq[T + t]]);
      compare(t % 2 ? cache.decodeSync(tok) : await cache.decode(tok), t);
    }
    assertEquals(cache.pos, T);
    cache.reset();
    assertEquals(cache.pos, 0);

    // broadcast: a batch-1 prefill copied into a batch-2 cache continues like row 0
    const one = m.createKVCache(1, 32);
    await one.prefill(row(0, 0, P), 1, P);
    cache.copyFrom(one);
    assertEquals(cache.pos, P);
    const next = await cache.decode(new Int32Array([seq[P], seq[P]]));
    for (let v = 0; v < V; v++) {
      assert(Math.abs(next[v] - full[P * V + v]) < 1e-4);
      assertEquals(next[V + v], next[v]);
    }
    one.free();
    cache.free();
    one.free(); // idempotent
  }));

Deno.test("writeParam/readParam round trip; optimizer state export/import resumes exactly", () =>
  withModel(async (m) => {
    m.initWeights(3);
    const p = m.paramIndex("transformer.h.1.attn.c_k.weight");
    const data = Float32Array.from({ length: m.params()[p].numel }, (_, i) => Math.sin(i) * 0.1);
    m.writeParam(p, data);
    assertEquals(m.readParam("transformer.h.1.attn.c_k.weight"), data);

    const { inputs, targets } = batch(2, 16, tiny.vocabSize, 21);
    const step = async (s: number) => {
      m.zeroGrad();
      const loss = await m.forwardBackward(inputs, targets, 2, 16);
      await m.optimStep(hyper(s));
      return loss;
    };
    for (let s = 0; s < 3; s++) await step(s);
    const states = m.optimStates();
    assertEquals(states.length, 2 + 2 + 6 * tiny.nLayer);
    assertEquals(states[0].name, "transformer.wte.weight.exp_avg");
    assertEquals(states[1].name, "transformer.wte.weight.exp_avg_sq");
    assertEquals(states[2].name, "transformer.h.0.attn.c_q.weight.momentum_buffer");
    assertEquals(states.at(-1)!.name, "lm_head.weight.exp_avg_sq");
    const weights = m.params().map((q) => m.readParam(q.index));
    const opt = m.exportOptimizer();
    assertEquals(opt.step, 3);
    assert(opt.tensors.every((t) => t.some((x) => x !== 0)), "some optimizer state is all zero");

    const reference = [await step(3), await step(4), await step(5)];
    // restore into the same model after clobbering everything, then into a fresh model
    m.initWeights(999);
    m.importOptimizer({ step: 0, tensors: opt.tensors.map((t) => new Float32Array(t.length)) });
    weights.forEach((w, i) => m.writeParam(i, w));
    m.importOptimizer(opt);
    assertEquals([await step(3), await step(4), await step(5)], reference);

    await withModel(async (fresh) => {
      weights.forEach((w, i) => fresh.writeParam(i, w));
      fresh.importOptimizer(opt);
      assertEquals(fresh.getOptimStep(), 3);
      const again: number[] = [];
      for (let s = 3; s < 6; s++) {
        fresh.zeroGrad();
        again.push(await fresh.forwardBackward(inputs, targets, 2, 16));
        await fresh.optimStep(hyper(s));
      }
      assertEquals(again, reference);
    });
  }));

Deno.test("bad inputs give UserErrors with a message", () =>
  withModel(async (m) => {
    m.initWeights(1);
    const ok = batch(2, 16, tiny.vocabSize, 1);
    const T17 = batch(1, 17, tiny.vocabSize, 1);
    await assertRejects(() => m.forwardBackward(T17.inputs, T17.targets, 1, 17), UserError, "T=17");
    await assertRejects(() => m.forwardLogits(ok.inputs, 3, 16), UserError, "B=3");
    await assertRejects(
      () => m.forwardBackward(ok.inputs.subarray(1), ok.targets, 2, 16),
      UserError,
      "expected 32 values, got 31",
    );
    // token range is checked by the library: its message comes back through nc_last_error
    const bad = ok.inputs.slice();
    bad[5] = tiny.vocabSize;
    const err = await assertRejects(() => m.forwardBackward(bad, ok.targets, 2, 16), UserError);
    assert(/token|range|vocab/i.test(err.message) && err.message.includes("64"), err.message);
    const badTarget = ok.targets.slice();
    badTarget[0] = -2;
    await assertRejects(() => m.forwardLosses(ok.inputs, badTarget, 2, 16), UserError);
    // the failed calls left the model usable
    assert(Number.isFinite(await m.forwardBackward(ok.inputs, ok.targets, 2, 16)));
    assertThrows(() => m.writeParam(0, new Float32Array(3)), UserError, "expected 2048 values");
    assertThrows(() => m.readParam(99), UserError, "outside");
    await assertRejects(
      () => m.optimStep({ ...hyper(0), lrMatrix: NaN }),
      UserError,
      "lrMatrix",
    );
    assertThrows(() => m.createKVCache(1, 10 * tiny.sequenceLen + 1), UserError, "rotary");
    // a full KV cache is the library's OUT_OF_RANGE
    const cache = m.createKVCache(1, 4);
    await cache.prefill(new Int32Array(4), 1, 4);
    await assertRejects(() => cache.decode(new Int32Array(1)), UserError);
    cache.free();
    // one call at a time per model
    const p = m.forwardBackward(ok.inputs, ok.targets, 2, 16);
    assertThrows(() => m.zeroGrad(), UserError, "busy");
    await p;
    // the context refuses to go while the model lives
    assertThrows(() => m.context.destroy(), UserError);
  }));

Deno.test("bad configs give UserErrors", () => {
  const ctx = ComputeContext.create();
  try {
    assertThrows(() => GPT.create(ctx, { ...tiny, nKvHead: 3 }, { maxBatch: 1 }), UserError, "kv heads");
    assertThrows(() => GPT.create(ctx, { ...tiny, nEmbd: 30 }, { maxBatch: 1 }), UserError, "divisible");
    assertThrows(() => GPT.create(ctx, tiny, { maxBatch: 0 }), UserError, "maxBatch");
    assertThrows(() => ComputeContext.create({ threads: -1 }), UserError, "threads");
  } finally {
    ctx.destroy();
  }
  ctx.destroy(); // idempotent
});

Deno.test("the event loop stays free during a nonblocking forwardBackward", async () => {
  const cfg: GPTConfig = { nEmbd: 256, nHead: 4, nKvHead: 4, nLayer: 4, sequenceLen: 256, vocabSize: 4096 };
  await withModel(
    async (m) => {
      m.initWeights(1);
      const { inputs, targets } = batch(4, 256, cfg.vocabSize, 3);
      const order: string[] = [];
      const work = m.forwardBackward(inputs, targets, 4, 256).then((loss) => {
        order.push("forwardBackward");
        return loss;
      });
      await new Promise<void>((resolve) =>
        setTimeout(() => {
          order.push("timer");
          resolve();
        }, 0)
      );
      const loss = await work;
      assertEquals(order, ["timer", "forwardBackward"]);
      assert(Math.abs(loss - Math.log(cfg.vocabSize)) < 1e-3);
    },
    cfg,
    4,
  );
});

Deno.test("profile: counted with a profiling context, cleared by resetProfile", async () => {
  const ctx = ComputeContext.create({ threads: 1, profile: true });
  const m = GPT.create(ctx, tiny, { maxBatch: 2 });
  try {
    m.initWeights(1);
    const { inputs, targets } = batch(2, 16, tiny.vocabSize, 2);
    m.zeroGrad();
    await m.forwardBackward(inputs, targets, 2, 16);
    await m.optimStep(hyper(0));
    const p = m.profile();
    assert(p.calls >= 2, `calls ${p.calls}`);
    assert(p.matmulFlops > 0 && p.totalSeconds > 0 && p.optimizerSeconds > 0, JSON.stringify(p));
    m.resetProfile();
    assertEquals(m.profile().calls, 0);
  } finally {
    m.free();
    ctx.destroy();
  }
});

Deno.test("forwardScores and forwardLogitsAt agree with forwardLogits", () =>
  withModel(async (m) => {
    m.initWeights(8);
    // random values everywhere (nanochat's zero lm_head would make every logit equal)
    let s = 12345;
    for (const p of m.params()) {
      const w = new Float32Array(p.numel);
      for (let i = 0; i < w.length; i++) {
        s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
        w[i] = (s / 2 ** 32 - 0.5) * 0.6;
      }
      m.writeParam(p.index, w);
    }
    const B = 2, T = 16, V = tiny.vocabSize;
    const { inputs, targets } = batch(B, T, V, 31);
    targets[3] = -1;
    targets[20] = -1;
    const logits = await m.forwardLogits(inputs, B, T);
    const { losses, argmax } = await m.forwardScores(inputs, targets, B, T);
    assertEquals([losses.length, argmax.length], [B * T, B * T]);
    for (let i = 0; i < B * T; i++) {
      const row = logits.subarray(i * V, (i + 1) * V);
      let best = 0;
      for (let v = 1; v < V; v++) if (row[v] > row[best]) best = v;
      assertEquals(argmax[i], best, `argmax at ${i}`);
      if (targets[i] < 0) {
        assertEquals(losses[i], 0);
        continue;
      }
      const mx = Math.max(...row);
      const lse = mx + Math.log(row.reduce((a, z) => a + Math.exp(z - mx), 0));
      const ce = lse - row[targets[i]];
      assert(Math.abs(losses[i] - ce) < 1e-4 * Math.max(1, ce), `loss at ${i}: ${losses[i]} vs ${ce}`);
    }
    const positions = Int32Array.of(9, 2);
    const at = await m.forwardLogitsAt(inputs, B, T, positions);
    assertEquals(at.length, B * V);
    for (let b = 0; b < B; b++) {
      for (let v = 0; v < V; v++) {
        const want = logits[(b * T + positions[b]) * V + v];
        assert(Math.abs(at[b * V + v] - want) < 1e-5, `row ${b} token ${v}: ${at[b * V + v]} vs ${want}`);
      }
    }
    await assertRejects(
      () => m.forwardLogitsAt(inputs, B, T, Int32Array.of(3, 16)),
      UserError,
      "positions[1]",
    );
    await assertRejects(() => m.forwardLogitsAt(inputs, B, T, Int32Array.of(3)), UserError, "positions");
    await assertRejects(() => m.forwardScores(inputs, targets.subarray(1), B, T), UserError, "targets");
  }));

Deno.test("losses stay in the library: lossStats sums the micro-batches' losses once per step", () =>
  withModel(async (m) => {
    m.initWeights(4);
    const micro = [
      batch(2, 16, tiny.vocabSize, 51),
      batch(1, 8, tiny.vocabSize, 52),
      batch(2, 16, tiny.vocabSize, 53),
    ];
    micro[0].targets[5] = -1;
    m.zeroGrad();
    let want = 0;
    for (const { inputs, targets } of micro) {
      const B = inputs.length === 8 ? 1 : 2, T = inputs.length / B;
      await m.backward(inputs, targets, B, T, 1 / 3);
      const per = await m.forwardLosses(inputs, targets, B, T);
      const valid = targets.filter((t) => t >= 0).length;
      want += per.reduce((a, b) => a + b, 0) / valid;
    }
    const stats = m.lossStats();
    assertEquals(stats.calls, 3);
    assertEquals(stats.tokens, 32 + 8 + 32 - 1);
    assert(Math.abs(stats.lossSum - want) < 1e-4, `${stats.lossSum} vs ${want}`);
    m.zeroGrad();
    assertEquals(m.lossStats(), { lossSum: 0, lastLoss: 0, calls: 0, tokens: 0 });
  }));

Deno.test("weighted backward: all-ones weights equal the plain gradient, zeros give none", () =>
  withModel(async (m) => {
    m.initWeights(6);
    await trainLosses(m, 2, 6); // non-zero lm_head and c_proj
    const { inputs, targets } = batch(2, 16, tiny.vocabSize, 61);
    const grads = () => m.params().map((p) => m.readGrad(p.index));
    m.zeroGrad();
    await m.backward(inputs, targets, 2, 16, 0.5);
    const plain = grads();
    m.zeroGrad();
    await m.backwardWeighted(inputs, targets, new Float32Array(32).fill(1), 2, 16, 32 / 0.5);
    grads().forEach((g, i) => {
      const scale = Math.max(...plain[i].map(Math.abs));
      assert(g.every((x, j) => Math.abs(x - plain[i][j]) <= 1e-5 * scale), m.params()[i].name);
    });
    m.zeroGrad();
    await m.backwardWeighted(inputs, targets, new Float32Array(32), 2, 16, 1);
    assertEquals(m.gradNorm(), 0);
    const w = new Float32Array(32).fill(-1);
    await assertRejects(() => m.backwardWeighted(inputs, targets, w, 2, 16, 0), UserError, "normalizer");
    w[3] = NaN;
    await assertRejects(() => m.backwardWeighted(inputs, targets, w, 2, 16, 1), UserError, "weights[3]");
    await assertRejects(
      () => m.backwardWeighted(inputs, targets, w.subarray(1), 2, 16, 1),
      UserError,
      "weights",
    );
  }));

Deno.test("a communicator of one rank: a step over it equals one without; bad ranks and a missing peer are errors", async () => {
  const ctx = ComputeContext.create({ threads: 1 });
  const comm = Communicator.create(ctx, Communicator.newId(ctx), 0, 1);
  const a = GPT.create(ctx, tiny, { maxBatch: 2 });
  const b = GPT.create(ctx, tiny, { maxBatch: 2 });
  try {
    assertEquals([comm.rank, comm.worldSize], [0, 1]);
    const sums = Float64Array.of(1.5, 2.5);
    await comm.allReduceSum(sums);
    assertEquals(Array.from(sums), [1.5, 2.5]);
    await comm.barrier();
    a.attachComm(comm);
    const losses = [await trainLosses(a, 3, 9), await trainLosses(b, 3, 9)];
    assertEquals(losses[0], losses[1]);
    assertEquals(
      a.readParam("transformer.h.0.mlp.c_fc.weight"),
      b.readParam("transformer.h.0.mlp.c_fc.weight"),
    );
    assertThrows(() => a.attachComm(null), UserError, "optimizer state already exists");
    assertThrows(() => comm.destroy(), UserError, "attached");
    assertThrows(() => Communicator.create(ctx, Communicator.newId(ctx), 1, 1), UserError, "rank 1");
    assertThrows(() => Communicator.create(ctx, new Uint8Array(16), 0, 1), UserError, "128 bytes");
    // a world of 2 whose other rank never comes: a bounded wait, then the missing rank is named
    const quick = { advertiseHost: "127.0.0.1", timeoutMs: 500 };
    assertThrows(
      () => Communicator.create(ctx, Communicator.newId(ctx, quick), 0, 2, quick),
      UserError,
      "ranks not yet connected to the bootstrap store: 1 (of 2)",
    );
  } finally {
    a.free();
    b.free();
    comm.destroy();
    ctx.destroy();
  }
});
