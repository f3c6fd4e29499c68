// Helpers for the distributed tests: free TCP ports, the 2-rank launcher flags and deno subprocesses whose output we read.
import { fileURLToPath } from "node:url";

/** A TCP port that was free a moment ago on 127.0.0.1. */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** Our launcher's flags for 2 ranks on this node, meeting on a free port. */
export function twoRankFlags(): string[] {
  return ["--nproc-per-node", "2", "--master-port", String(freePort())];
}

/** Absolute path of a file in tests/dist/. */
export function script(name: string): string {
  return fileURLToPath(new URL(name, import.meta.url));
}

export interface Run {
  code: number;
  signal: string | null;
  out: string;
  err: string;
  seconds: number;
}

/** Runs `command` (argv) to the end with extra env, capturing stdout and stderr. */
export async function run(command: string[], env: Record<string, string> = {}): Promise<Run> {
  const t0 = performance.now();
  const out = await new Deno.Command(command[0], {
    args: command.slice(1),
    env: { NO_COLOR: "1", ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return {
    code: out.code,
    signal: out.signal,
    out: dec.decode(out.stdout),
    err: dec.decode(out.stderr),
    seconds: (performance.now() - t0) / 1000,
  };
}

/** `deno run -A tests/dist/<name> ...args` as an argv. */
export function denoScript(name: string, ...args: string[]): string[] {
  return [Deno.execPath(), "run", "-A", script(name), ...args];
}

/** A running process whose stdout we watch line by line. */
export class Watched {
  readonly child: Deno.ChildProcess;
  #lines: string[] = [];
  #err = "";
  #reading: Promise<void>;
  #errReading: Promise<void>;

  constructor(command: string[], env: Record<string, string> = {}) {
    const child = new Deno.Command(command[0], {
      args: command.slice(1),
      env: { NO_COLOR: "1", ...env },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.child = child;
    this.#reading = (async () => {
      let buf = "";
      for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
        buf += chunk;
        const parts = buf.split("\n");
        buf = parts.pop()!;
        this.#lines.push(...parts);
      }
      if (buf) this.#lines.push(buf);
    })();
    this.#errReading = (async () => {
      for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) this.#err += chunk;
    })();
  }

  get lines(): string[] {
    return this.#lines;
  }

  /** Waits until `pred` holds for the lines seen so far, or throws after `timeoutMs`. */
  async until(pred: (lines: string[]) => boolean, timeoutMs: number): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (!pred(this.#lines)) {
      if (Date.now() > end) {
        throw new Error(`timed out; output so far:\n${this.#lines.join("\n")}\n${this.#err}`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  async finish(): Promise<{ status: Deno.CommandStatus; lines: string[]; err: string }> {
    const status = await this.child.status;
    await this.#reading;
    await this.#errReading;
    return { status, lines: this.#lines, err: this.#err };
  }
}
