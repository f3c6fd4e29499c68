// `nanochat chat` end to end: a tiny base checkpoint answers a prompt; missing checkpoints and bad
// options give clear errors; the REPL reads stdin lines and exits at end of input.
import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { fileURLToPath } from "node:url";
import { makeTinyBaseCheckpoint, sharedPretrainDir, withTempDir } from "./helpers.ts";

const SHARED = sharedPretrainDir();

/** Spawns `nanochat ARGS` as a real subprocess. */
function spawnNanochat(args: string[], stdin: "piped" | "null") {
  const main = fileURLToPath(new URL("../src/cli/main.ts", import.meta.url));
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", main, ...args],
    env: { NO_COLOR: "1" },
    stdin,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const cleanup = () => Promise.resolve();
  return { child, cleanup };
}

/** Runs `nanochat ARGS` to completion with `stdin` as input. */
async function nanochat(args: string[], options: { stdin?: string } = {}) {
  const { child, cleanup } = spawnNanochat(args, options.stdin === undefined ? "null" : "piped");
  try {
    if (options.stdin !== undefined) {
      const w = child.stdin.getWriter();
      await w.write(new TextEncoder().encode(options.stdin));
      await w.close();
    }
    const { code, stdout, stderr } = await child.output();
    const dec = new TextDecoder();
    return { code, out: dec.decode(stdout), err: dec.decode(stderr) };
  } finally {
    await cleanup();
  }
}

/** Ctrl-C while answering stops the answer (the REPL goes on); Ctrl-C at the prompt exits. */
async function checkCtrlC(base: string): Promise<void> {
  const args = ["--base-dir", base, "chat", "-i", "base", "--max-tokens", "500", "-t", "1", "--threads", "1"];
  const { child, cleanup } = spawnNanochat(args, "piped");
  try {
    const w = child.stdin.getWriter();
    const r = child.stdout.getReader();
    const dec = new TextDecoder();
    let out = "";
    const until = async (s: string, n: number) => {
      while (out.split(s).length - 1 < n) {
        const { value, done } = await r.read();
        if (done) throw new Error(`the chat ended before printing ${s} ${n} times: ${out}`);
        out += dec.decode(value);
      }
    };
    await until("User: ", 1);
    await w.write(new TextEncoder().encode("tell me a long story\n"));
    await until("Assistant: ", 1);
    child.kill("SIGINT");
    await until("User: ", 2); // still running, back at the prompt
    child.kill("SIGINT");
    let timer: ReturnType<typeof setTimeout> | undefined;
    const status = await Promise.race([
      child.status,
      new Promise<null>((resolve) => timer = setTimeout(() => resolve(null), 30_000)),
    ]);
    clearTimeout(timer);
    if (status === null) child.kill("SIGKILL");
    assertEquals(status?.code, 0, `Ctrl-C at the prompt did not exit: ${out}`);
    await w.close().catch(() => {});
    r.releaseLock();
    await child.stdout.cancel();
    await child.stderr.cancel();
  } finally {
    await cleanup();
  }
}

Deno.test({
  name: "chat: a base checkpoint answers -p, is deterministic at -t 0, and the REPL runs on stdin",
  ignore: SHARED === null,
  fn: () =>
    withTempDir(async (base) => {
      await makeTinyBaseCheckpoint(base, SHARED!);
      const args = [
        "--base-dir",
        base,
        "chat",
        "-i",
        "base",
        "-p",
        "The capital of France is",
        "--threads",
        "2",
      ];
      const a = await nanochat([...args, "--max-tokens", "8", "-t", "0"]);
      assertEquals(a.code, 0, a.err + a.out);
      assert(a.out.trim().length > 0, `no text printed: ${JSON.stringify(a.out)}`);
      const b = await nanochat([...args, "--max-tokens", "8", "-t", "0"]);
      assertEquals(b.out, a.out);
      // the REPL: two turns, /help, /clear, then end of input (Ctrl-D)
      const r = await nanochat(
        ["--base-dir", base, "chat", "-i", "base", "--max-tokens", "4", "-t", "0", "--threads", "2"],
        { stdin: "hello\n/help\nand again\n/clear\n/quit\nnever read\n" },
      );
      assertEquals(r.code, 0, r.err + r.out);
      assertEquals(r.out.match(/Assistant: /g)?.length, 2, r.out);
      assertStringIncludes(r.out, "/clear");
      assertStringIncludes(r.out, "(conversation cleared)");
      const eof = await nanochat(["--base-dir", base, "chat", "-i", "base", "--max-tokens", "2"], {
        stdin: "hi",
      });
      assertEquals(eof.code, 0, eof.err + eof.out);
      assertEquals(eof.out.match(/Assistant: /g)?.length, 1, eof.out);
      await checkCtrlC(base);
    }),
});

Deno.test("chat: a missing checkpoint or a bad option exits 1 with a clear message", () =>
  withTempDir(async (base) => {
    const sft = await nanochat(["--base-dir", base, "chat", "-p", "hi"]);
    assertEquals(sft.code, 1, sft.err + sft.out);
    assertStringIncludes(sft.err, "no sft checkpoint in");
    assertStringIncludes(sft.err, "-i base");
    assertStringIncludes(sft.err, "`nanochat train sft`");
    const b = await nanochat(["--base-dir", base, "chat", "-i", "base", "-p", "hi"]);
    assertEquals(b.code, 1, b.err);
    assertStringIncludes(b.err, "no base checkpoint in");
    assertStringIncludes(b.err, "nanochat train base");
    const bad = await nanochat(["--base-dir", base, "chat", "-i", "chatgpt"]);
    assertEquals(bad.code, 1, bad.err);
    assertStringIncludes(bad.err, "-i expects one of base, mid, sft, rl");
  }));
