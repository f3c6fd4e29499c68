// Environment errors get one clear line and exit code 1, never a stack trace: no HOME, a port in use, a
// read-only or unwritable base dir, and a disk that fills up while a checkpoint is saved. The full disk is
// real: a 1 MiB tmpfs mounted in a private mount namespace (`unshare -rm`, util-linux); so is the read-only
// folder as root (a read-only tmpfs; as another user, a chmod 555 folder). A real ENOSPC from /dev/full
// checks the message mapping itself.
import { assert, assertEquals, assertMatch, assertStringIncludes } from "@std/assert";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { describeWriteError, fsErrorToUserError, writeFileAtomic } from "../src/common/fs.ts";
import { UserError } from "../src/common/errors.ts";
import { makeTinyTokenizer, runCliProcess, sharedPretrainDir, withTempDir } from "./helpers.ts";

const MAIN = fileURLToPath(new URL("../src/cli/main.ts", import.meta.url));
const SHARED = sharedPretrainDir();
const IS_ROOT = Deno.uid() === 0;

/** Whether this machine lets us make a private mount namespace with a tmpfs in it. */
const CAN_MOUNT = await (async () => {
  try {
    const dir = await Deno.makeTempDir();
    const out = await new Deno.Command("unshare", {
      args: ["-rm", "sh", "-c", `mount -t tmpfs -o size=64k tmpfs '${dir}'`],
      stdout: "null",
      stderr: "null",
    }).output();
    await Deno.remove(dir);
    return out.success;
  } catch {
    return false;
  }
})();

/** Runs `nanochat ARGS` inside a private mount namespace, after the shell command `setup`. */
async function runInNamespace(
  setup: string,
  args: string[],
  after = "",
): Promise<{ code: number; out: string; err: string }> {
  const quoted = [Deno.execPath(), "run", "-A", MAIN, ...args].map((a) => `'${a}'`).join(" ");
  const out = await new Deno.Command("unshare", {
    args: ["-rm", "sh", "-c", `${setup} && { ${quoted}; code=$?; ${after} exit $code; }`],
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, out: dec.decode(out.stdout), err: dec.decode(out.stderr) };
}

/** Asserts a one-line error (no stack trace) that includes `text`. */
function assertOneLineError(res: { code: number; err: string }, text: string): void {
  assertEquals(res.code, 1, res.err);
  const lines = res.err.trim().split("\n").filter((l) => l.startsWith("error:") || /^\s+at /.test(l));
  assertEquals(lines.length, 1, res.err);
  assert(!/\n\s+at /.test(res.err), `no stack trace:\n${res.err}`);
  assertStringIncludes(lines[0], text);
}

Deno.test("a real ENOSPC (writing /dev/full) becomes a one-line 'disk is full' UserError", async () => {
  let enospc: unknown;
  try {
    await Deno.writeFile("/dev/full", new Uint8Array(16));
  } catch (err) {
    enospc = err;
  }
  assertEquals((enospc as { code?: string }).code, "ENOSPC");
  const mapped = fsErrorToUserError(enospc, "/data/base_checkpoints/d20");
  assert(mapped instanceof UserError);
  assertEquals(
    mapped.message,
    "cannot write /data/base_checkpoints/d20: the disk is full; free some space or pass --base-dir " +
      "(or NANOCHAT_BASE_DIR) on a disk with room",
  );
  assertEquals(describeWriteError(new Error("something else"), "/x"), null);
  const other = new Error("not an environment error");
  assertEquals(fsErrorToUserError(other, "/x"), other);
});

Deno.test("no HOME and no base dir: a one-line error naming the fixes", async () => {
  const denoDir = Deno.env.get("DENO_DIR") ?? join(Deno.env.get("HOME") ?? "/root", ".cache", "deno");
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, "report", "reset"],
    clearEnv: true,
    env: { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin", DENO_DIR: denoDir, NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  assertOneLineError(
    { code: out.code, err: new TextDecoder().decode(out.stderr) },
    "cannot find a home directory (HOME is not set) for the default base dir ~/.cache/nanochat: " +
      "set NANOCHAT_BASE_DIR or pass --base-dir",
  );
});

Deno.test("serve on a port in use: a one-line error before any model is loaded", async () => {
  const busy = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    await withTempDir(async (base) => {
      const { port } = busy.addr as Deno.NetAddr;
      const res = await runCliProcess(["--base-dir", base, "serve", "--port", String(port)]);
      assertOneLineError(res, `port ${port} on 127.0.0.1 is already in use`);
      assertStringIncludes(res.err, "--port (0 picks a free one)");
    });
  } finally {
    busy.close();
  }
});

Deno.test("a base dir nobody may write: report reset fails in one line", async () => {
  await withTempDir(async (tmp) => {
    const base = join(tmp, "base");
    await Deno.mkdir(base);
    if (IS_ROOT) {
      if (!CAN_MOUNT) throw new Error("as root this test needs `unshare -rm` to mount a read-only tmpfs");
      const res = await runInNamespace(`mount -t tmpfs -o ro tmpfs '${base}'`, [
        "--base-dir",
        base,
        "report",
        "reset",
      ]);
      assertOneLineError(res, `cannot write ${base}/report/header.md: the filesystem is read-only`);
    } else {
      await Deno.chmod(base, 0o555);
      const res = await runCliProcess(["--base-dir", base, "report", "reset"]);
      assertOneLineError(res, `cannot write ${base}/report/header.md: permission denied`);
      await Deno.chmod(base, 0o755);
    }
  });
  // through the fs seam as well: the atomic writer names the file and leaves no temp file
  await withTempDir(async (tmp) => {
    const file = join(tmp, "blocker");
    await Deno.writeTextFile(file, "a file where a folder should be");
    const err = await writeFileAtomic(join(file, "report", "x.md"), "data").catch((e) => e);
    assert(err instanceof UserError, String(err));
    assertStringIncludes(err.message, "a part of the path is a file, not a folder");
  });
});

Deno.test({
  name: "the disk fills up while train base saves its checkpoint: one line, no half-written files",
  ignore: SHARED === null,
  fn: async () => {
    if (!CAN_MOUNT) throw new Error("this test needs `unshare -rm` (util-linux) to mount a tiny tmpfs");
    await withTempDir(async (tmp) => {
      const tokenizerHome = join(tmp, "tok");
      await makeTinyTokenizer(tokenizerHome, SHARED!);
      const base = join(tmp, "base");
      await Deno.mkdir(base);
      const res = await runInNamespace(
        `mount -t tmpfs -o size=1m tmpfs '${base}' && cp -r '${tokenizerHome}/tokenizer' '${base}/tokenizer'`,
        [
          ...["--base-dir", base, "train", "base", "--depth", "4", "--max-seq-len", "64"],
          ...["--device-batch-size", "2", "--total-batch-size", "128", "--num-iterations", "2"],
          ...["--eval-every", "-1", "--sample-every", "-1", "--threads", "1", "--data-dir", SHARED!],
        ],
        `echo "left: $(ls -A '${base}/base_checkpoints/d4' | tr '\\n' ' ')";`,
      );
      assertOneLineError(res, `cannot write ${base}/base_checkpoints/d4: the disk is full`);
      assertMatch(res.out, /left: \s*$/m, "no temp or partial checkpoint files remain");
    });
  },
});
