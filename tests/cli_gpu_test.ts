// `nanochat gpu-selftest` through the CLI: without a GPU it says so in one line and exits 2 (the
// documented code); against the emulated cuda library (NANOCHAT_COMPUTE_LIB) every check runs and
// passes, and the table lists them; --json gives the same result as data.
import { assert, assertEquals } from "@std/assert";
import { fileURLToPath } from "node:url";
import { runCliProcess } from "./helpers.ts";

const EMU_LIB = fileURLToPath(new URL("../kernels/build/libnanochat_cuda_emu.so", import.meta.url));

Deno.test("gpu-selftest without a GPU says so and exits 2", async () => {
  const r = await runCliProcess(["gpu-selftest"], { env: { NANOCHAT_COMPUTE_LIB: "" } });
  if (r.code === 0) {
    // a machine with a GPU and the cuda backend built: the real self-test ran and passed
    assert(r.out.includes("all checks passed") && r.out.includes("cuda:0"), r.out);
    return;
  }
  assertEquals(r.code, 2, r.out + r.err);
  const lines = r.err.trim().split("\n");
  assertEquals(lines.length, 1, r.err);
  assert(lines[0].startsWith("error: gpu-selftest: no GPU to test: --device cuda: "), r.err);
  assert(lines[0].includes("--device cpu"), r.err);
});

Deno.test("gpu-selftest on the emulated cuda backend runs every check and passes", async () => {
  const r = await runCliProcess(["gpu-selftest"], {
    env: { NANOCHAT_COMPUTE_LIB: EMU_LIB, OMP_NUM_THREADS: "2" },
  });
  assertEquals(r.code, 0, r.out + r.err);
  assert(r.out.startsWith("gpu-selftest on cuda:0: CUDA emulator"), r.out);
  for (
    const check of [
      "init weights",
      "forward logits",
      "per-token losses",
      "gradients",
      "KV-cache prefill",
      "training steps",
    ]
  ) {
    assert(r.out.includes(check), `${check} missing from:\n${r.out}`);
  }
  assertEquals(r.out.split("\n").filter((l) => l.includes("FAIL")).length, 0, r.out);
  assert(r.out.trim().endsWith("all checks passed"), r.out);

  const j = await runCliProcess(["gpu-selftest", "--json"], {
    env: { NANOCHAT_COMPUTE_LIB: EMU_LIB, OMP_NUM_THREADS: "2" },
  });
  assertEquals(j.code, 0, j.err);
  const result = JSON.parse(j.out);
  assertEquals(result.backend, "cuda_emu");
  assertEquals(result.ok, true);
  assertEquals(result.rows.length, 6);
});

Deno.test("gpu-bench: exit 2 without a GPU; on the emulated backend it measures every depth asked for", async () => {
  const none = await runCliProcess(["gpu-bench"], { env: { NANOCHAT_COMPUTE_LIB: "" } });
  if (none.code !== 0) {
    assertEquals(none.code, 2, none.err);
    assert(none.err.startsWith("error: gpu-bench: no GPU to benchmark: "), none.err);
  }
  const args = [
    "gpu-bench",
    "--depths",
    "1,2",
    "--batch",
    "2",
    "--seq",
    "16",
    "--vocab-size",
    "256",
    "--steps",
    "2",
  ];
  const r = await runCliProcess([...args, "--json", "--peak-flops", "1e12"], {
    env: { NANOCHAT_COMPUTE_LIB: EMU_LIB, OMP_NUM_THREADS: "2" },
  });
  assertEquals(r.code, 0, r.err);
  const result = JSON.parse(r.out);
  assertEquals(result.rows.map((x: { depth: number }) => x.depth), [1, 2]);
  for (const row of result.rows) {
    assert(row.tokPerSec > 0 && row.mfu > 0 && row.optimSeconds > 0, JSON.stringify(row));
    // nanochat's 524,288-token step = accumulated micro-batches + one optimizer step
    const accum = Math.round(524288 / (2 * 16));
    assert(
      Math.abs(row.stepSeconds - (accum * row.microBatchSeconds + row.optimSeconds)) < 1e-9,
      JSON.stringify(row),
    );
  }
  const bad = await runCliProcess(["gpu-bench", "--depths", "12,x"], {
    env: { NANOCHAT_COMPUTE_LIB: EMU_LIB },
  });
  assertEquals(bad.code, 1);
  assert(bad.err.includes("--depths expects positive integers"), bad.err);
});
