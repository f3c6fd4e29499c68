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
