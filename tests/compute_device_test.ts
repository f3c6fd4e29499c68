// Device discovery and selection through the TypeScript side: the cpu library and its one device, auto
// falling back to cpu without a CUDA library, clear errors for --device cuda without one, unknown device
// names, bad device indices, NANOCHAT_COMPUTE_LIB naming a library of another device or of another ABI
// version, and bf16 compute refused by the cpu backend with a message saying where it runs.
import { assert, assertEquals, assertThrows } from "@std/assert";
import { fileURLToPath } from "node:url";
import { COMPUTE_LIB_ENV, computeLibrary, type DeviceRequest, openComputeLibrary } from "../ffi/compute.ts";
import { UserError } from "../src/common/errors.ts";
import { ComputeContext, GPT, listDevices } from "../src/model/mod.ts";
import {
  makeTinyTokenizer,
  runCliProcess,
  sharedPretrainDir,
  tinyBaseTrainArgs,
  withTempDir,
} from "./helpers.ts";

const built = (name: string) => fileURLToPath(new URL(`../kernels/build/${name}`, import.meta.url));
const CPU_LIB = built("libnanochat_cpu.so");
const MISMATCH_LIB = built("libnanochat_abi_mismatch.so");
const tiny = { nEmbd: 32, nHead: 4, nKvHead: 2, nLayer: 1, sequenceLen: 8, vocabSize: 64 };

/** Runs `fn` with NANOCHAT_COMPUTE_LIB set to `value` (or unset), restoring it afterwards. */
function withComputeLib<R>(value: string | undefined, fn: () => R): R {
  const before = Deno.env.get(COMPUTE_LIB_ENV);
  if (value === undefined) Deno.env.delete(COMPUTE_LIB_ENV);
  else Deno.env.set(COMPUTE_LIB_ENV, value);
  try {
    return fn();
  } finally {
    if (before === undefined) Deno.env.delete(COMPUTE_LIB_ENV);
    else Deno.env.set(COMPUTE_LIB_ENV, before);
  }
}

Deno.test("the cpu library describes its one device: the host's cores and memory", () =>
  withComputeLib(undefined, () => {
    const lib = computeLibrary("cpu");
    assertEquals(lib.backend, "cpu");
    assertEquals(lib.devices.length, 1);
    const [d] = listDevices("cpu");
    assertEquals(d.kind, "cpu");
    assertEquals(d.index, 0);
    assertEquals(d.cores, navigator.hardwareConcurrency);
    assert(d.name.length > 0);
    assert(d.totalMemory > 2 ** 28 && d.freeMemory > 0 && d.freeMemory <= d.totalMemory, JSON.stringify(d));
    assertEquals(d.computeDtypes, ["f32"]);
    const ctx = ComputeContext.create({ device: "cpu" });
    try {
      assertEquals(ctx.device.kind, "cpu");
      assert(ctx.describe().startsWith("cpu: "), ctx.describe());
    } finally {
      ctx.destroy();
    }
  }));

Deno.test("auto uses cpu where no CUDA library loads; cuda says what is missing", () =>
  withComputeLib(undefined, () => {
    // this machine builds no CUDA backend (no toolkit): auto falls back, cuda explains
    let cuda: Error | null = null;
    try {
      computeLibrary("cuda");
    } catch (err) {
      cuda = err as Error;
    }
    if (cuda === null) {
      // a machine with a CUDA build and a GPU: auto must pick it
      assertEquals(computeLibrary("auto").backend.startsWith("cuda"), true);
      return;
    }
    assert(cuda instanceof UserError);
    assert(cuda.message.startsWith("--device cuda: "), cuda.message);
    assert(/CUDA|GPU/.test(cuda.message) && cuda.message.includes("--device cpu"), cuda.message);
    assertEquals(computeLibrary("auto").backend, "cpu");
    const ctx = ComputeContext.create({ device: "auto" });
    assertEquals(ctx.device.kind, "cpu");
    ctx.destroy();
  }));

Deno.test("unknown device names and out-of-range indices are UserErrors", () =>
  withComputeLib(undefined, () => {
    assertThrows(() => computeLibrary("tpu" as DeviceRequest), UserError, 'unknown device "tpu"');
    assertThrows(() => ComputeContext.create({ device: "cpu", deviceIndex: 1 }), UserError, "device index 1");
    assertThrows(() => ComputeContext.create({ device: "cpu", deviceIndex: -1 }), UserError, "1 device(s)");
  }));

Deno.test("NANOCHAT_COMPUTE_LIB serves the devices it has and refuses the others", () => {
  withComputeLib(CPU_LIB, () => {
    assertEquals(computeLibrary("auto").path, CPU_LIB);
    assertEquals(computeLibrary("cpu").path, CPU_LIB);
    assertThrows(() => computeLibrary("cuda"), UserError, "is the cpu backend, which has no cuda device");
  });
  withComputeLib("/nonexistent/libnanochat_cuda.so", () => {
    const err = assertThrows(() => computeLibrary("auto"), UserError, "could not load /nonexistent/");
    assert(err.message.includes("deno task build"), err.message);
  });
});

Deno.test("a library of another ABI version fails with a message naming both versions", () => {
  const err = assertThrows(() => openComputeLibrary(MISMATCH_LIB), UserError);
  assert(err.message.includes("implements ABI version 1, this program needs version 2"), err.message);
  assert(err.message.includes("deno task build"), err.message);
  withComputeLib(MISMATCH_LIB, () => {
    assertThrows(() => ComputeContext.create({ device: "auto" }), UserError, "ABI version 1");
  });
});

Deno.test("bf16 compute on the cpu backend is refused and says where it runs", () =>
  withComputeLib(undefined, () => {
    const ctx = ComputeContext.create({ device: "cpu" });
    try {
      const err = assertThrows(
        () => GPT.create(ctx, tiny, { maxBatch: 1, computeDtype: "bf16" }),
        UserError,
        "BF16 is not supported by the cpu backend",
      );
      assert(err.message.includes("cuda backend"), err.message);
      const m = GPT.create(ctx, tiny, { maxBatch: 1, computeDtype: "f32" });
      assertEquals(m.computeDtype, "f32");
      m.free();
    } finally {
      ctx.destroy();
    }
  }));

const SHARED = sharedPretrainDir();

Deno.test({
  name: "train base --device: cuda without a CUDA backend is one clear line (exit 1); cpu trains",
  ignore: SHARED === null,
  fn: () =>
    withTempDir(async (base) => {
      await makeTinyTokenizer(base, SHARED!, 100_000);
      const args = (device: string) => [
        ...["--base-dir", base],
        ...tinyBaseTrainArgs(32, 2, 64, "--device", device, "--num-iterations", "2", "--eval-every", "-1"),
        ...["--data-dir", SHARED!],
      ];
      const cpu = await runCliProcess(args("cpu"));
      assertEquals(cpu.code, 0, cpu.err + cpu.out);
      assert(/^device cpu: .* f32 compute$/m.test(cpu.out), cpu.out);
      const cuda = await runCliProcess(args("cuda"));
      if (cuda.code === 0) {
        assert(/^device cuda:0: /m.test(cuda.out), cuda.out); // a machine with a CUDA build and a GPU
      } else {
        assertEquals(cuda.code, 1);
        assert(!cuda.err.includes("    at "), `a stack trace:\n${cuda.err}`);
        assert(cuda.err.includes("--device cuda: ") && cuda.err.includes("--device cpu"), cuda.err);
      }
      const bad = await runCliProcess(args("gpu"));
      assertEquals(bad.code, 1);
      assert(bad.err.includes("gpu") && bad.err.includes("auto, cpu, cuda"), bad.err);
    }),
});
