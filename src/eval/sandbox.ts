// The code sandbox: runs model-written Python (HumanEval completions, and any tool code later) where it
// cannot hurt the host. nanochat's own execution.py only disabled some Python functions in-process (and
// was the subject of an escape report); here the kernel does the isolating:
//   - bubblewrap: new user, pid, network, ipc, uts and cgroup namespaces (no network at all; no view of
//     host processes), a read-only /usr (and the interpreter's prefix) and nothing else of the host — no
//     $HOME, no base dir, no /etc, no parent's files —, a read-only root and /dev, a size-capped fresh
//     tmpfs as the work dir, a cleared environment, a new session (no terminal injection), and
//     --die-with-parent;
//   - as root, the sandbox runs as `nobody` (setpriv), so the process limit binds (the kernel exempts root);
//   - rlimits set inside the sandbox with prlimit: CPU seconds, address space, file size, processes,
//     open files, no core dumps;
//   - a wall-clock timeout that kills the whole process group (setsid), and capped stdout/stderr: going
//     over the cap kills the run and fails it.
// The program is fed on stdin, so it never appears in a command line or a host file. Where bubblewrap
// or user namespaces are unavailable, code runs with the rlimits only, after a loud warning — unless
// `requireIsolation` is set, which refuses instead.
import { UserError } from "../common/errors.ts";

/** Limits and settings of a sandbox. */
export interface SandboxOptions {
  /** Wall-clock limit per run; default 5000 ms (nanochat's 5 s). */
  timeoutMs?: number;
  /** Address-space limit; default 256 MiB (nanochat's). */
  memoryBytes?: number;
  /** Largest file the code may write; default 16 MiB. */
  fileSizeBytes?: number;
  /** Size of the tmpfs work dir; default 64 MiB. */
  workDirBytes?: number;
  /** Most processes (threads count) inside the sandbox; default 32. */
  maxProcesses?: number;
  /** stdout + stderr kept; more output kills the run; default 1 MiB. */
  maxOutputBytes?: number;
  /** Interpreter; default $NANOCHAT_SANDBOX_PYTHON, else /usr/bin/python3, else python3 on PATH. */
  python?: string;
  /** Refuse to run when bubblewrap isolation is unavailable (instead of rlimits only). */
  requireIsolation?: boolean;
  /** Where the fallback warning goes; default stderr. */
  warn?: (message: string) => void;
}

/** What one run did. */
export interface ExecutionResult {
  /** Exited with status 0, in time, within the output cap. */
  success: boolean;
  stdout: string;
  stderr: string;
  /** Why it failed: the last stderr line, or the limit it hit. */
  error: string | null;
  /** Killed by the wall clock or the CPU limit. */
  timeout: boolean;
  /** Raised MemoryError (the address-space limit). */
  memoryExceeded: boolean;
  /** Wrote more than maxOutputBytes and was killed. */
  outputExceeded: boolean;
  /** Exit status (null when killed by the wall clock). */
  exitCode: number | null;
}

/** Environment variables: the interpreter, and "1" to refuse running without bubblewrap. */
export const SANDBOX_PYTHON_ENV = "NANOCHAT_SANDBOX_PYTHON";
export const REQUIRE_SANDBOX_ENV = "NANOCHAT_REQUIRE_SANDBOX";
/** Environment variable naming the bubblewrap program (default `bwrap` on PATH). */
export const BWRAP_ENV = "NANOCHAT_BWRAP";

const bwrap = () => Deno.env.get(BWRAP_ENV) || "bwrap";

const NOBODY = 65534;

/** Exit status of the in-sandbox check when the program left a live process behind (then killed). */
const LEFTOVER_STATUS = 125;

/**
 * Runs the program (stdin is its source), then fails the run if any process other than this shell and
 * the namespace's init is still alive (zombies waiting for init's reaping are fine); the pid namespace
 * then kills whatever is left. Only shell builtins, so nothing new is spawned.
 */
const LEFTOVER_CHECK = `"$1" -I -B -; s=$?
for d in /proc/[0-9]*; do
  p=\${d#/proc/}
  [ "$p" = 1 ] || [ "$p" = $$ ] && continue
  while read -r k v rest; do
    if [ "$k" = State: ]; then [ "$v" = Z ] || exit ${LEFTOVER_STATUS}; break; fi
  done < "$d/status" 2>/dev/null
done
exit $s`;
const SYSTEM_PATH = "/usr/bin:/bin";

type Limits = Required<Omit<SandboxOptions, "warn" | "requireIsolation">>;

/** A configured sandbox; `isolated` says whether runs get bubblewrap or only rlimits. */
export class Sandbox {
  readonly isolated: boolean;
  readonly #o: Limits;
  readonly #prefix: string[];

  private constructor(o: Limits, isolated: boolean, prefix: string[]) {
    this.#o = o;
    this.isolated = isolated;
    this.#prefix = prefix;
  }

  /** Checks what the machine allows (one trial run) and returns a sandbox, warning or refusing as asked. */
  static async create(options: SandboxOptions = {}): Promise<Sandbox> {
    const o: Limits = {
      timeoutMs: options.timeoutMs ?? 5000,
      memoryBytes: options.memoryBytes ?? 256 * 2 ** 20,
      fileSizeBytes: options.fileSizeBytes ?? 16 * 2 ** 20,
      workDirBytes: options.workDirBytes ?? 64 * 2 ** 20,
      maxProcesses: options.maxProcesses ?? 32,
      maxOutputBytes: options.maxOutputBytes ?? 2 ** 20,
      python: options.python ?? await findPython(),
    };
    for (const [k, v] of Object.entries(o)) {
      if (typeof v === "number" && !(Number.isFinite(v) && v > 0)) {
        throw new UserError(`sandbox ${k} must be a positive number, got ${v}`);
      }
    }
    if (!(await isFile(o.python))) {
      throw new UserError(
        `the sandbox interpreter ${o.python} does not exist: install python3 or set ${SANDBOX_PYTHON_ENV}`,
      );
    }
    const required = options.requireIsolation ?? Deno.env.get(REQUIRE_SANDBOX_ENV) === "1";
    const why = await isolationProblem(o.python);
    if (why === null) return new Sandbox(o, true, await bwrapPrefix(o));
    if (required) {
      throw new UserError(
        `the bubblewrap code sandbox is unavailable (${why}): install bubblewrap and allow user namespaces, ` +
          `or run without --require-sandbox to use rlimits only`,
      );
    }
    (options.warn ?? ((m: string) => console.error(m)))(
      `WARNING: the bubblewrap code sandbox is unavailable (${why}). Model-written code will run with ` +
        `resource limits ONLY: it can use the network and read your files. Pass --require-sandbox ` +
        `(or ${REQUIRE_SANDBOX_ENV}=1) to refuse instead.`,
    );
    return new Sandbox(o, false, []);
  }

  /** Runs `code` with python3 and reports how it went (never throws for the code's own failures). */
  async run(code: string): Promise<ExecutionResult> {
    const o = this.#o;
    const limits = [
      `--cpu=${Math.ceil(o.timeoutMs / 1000) + 1}`,
      `--as=${o.memoryBytes}`,
      `--fsize=${o.fileSizeBytes}`,
      `--nproc=${o.maxProcesses}`,
      "--nofile=64",
      "--core=0",
    ];
    const python = [o.python, "-I", "-B", "-"];
    let workDir: string | null = null;
    let args: string[];
    if (this.isolated) {
      args = [
        "setsid",
        ...this.#prefix,
        "/usr/bin/prlimit",
        ...limits,
        "--",
        "/bin/sh",
        "-c",
        LEFTOVER_CHECK,
        "sh",
        o.python,
      ];
    } else {
      workDir = await Deno.makeTempDir({ prefix: "nanochat-sandbox-" });
      args = ["setsid", "prlimit", ...limits, "--", ...python];
    }
    try {
      return await this.#spawn(args, code, workDir);
    } finally {
      if (workDir) await Deno.remove(workDir, { recursive: true }).catch(() => {});
    }
  }

  async #spawn(args: string[], code: string, cwd: string | null): Promise<ExecutionResult> {
    const o = this.#o;
    const child = new Deno.Command(args[0], {
      args: args.slice(1),
      clearEnv: true,
      env: { PATH: SYSTEM_PATH, LANG: "C.UTF-8", ...(cwd ? { HOME: cwd, TMPDIR: cwd } : {}) },
      cwd: cwd ?? "/",
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    let killed: "timeout" | "output" | null = null;
    const killGroup = (why: "timeout" | "output") => {
      if (killed) return;
      killed = why;
      try {
        Deno.kill(-child.pid, "SIGKILL"); // setsid made the child a group leader: the whole group goes
      } catch {
        try {
          child.kill("SIGKILL");
        } catch { /* already gone */ }
      }
    };
    const timer = setTimeout(() => killGroup("timeout"), o.timeoutMs);
    let total = 0;
    const collect = async (stream: ReadableStream<Uint8Array>) => {
      const chunks: Uint8Array[] = [];
      for await (const chunk of stream) {
        const room = o.maxOutputBytes - total;
        if (room > 0) chunks.push(chunk.subarray(0, room));
        total += chunk.length;
        if (total > o.maxOutputBytes) killGroup("output");
      }
      return new TextDecoder().decode(concat(chunks));
    };
    const outP = collect(child.stdout);
    const errP = collect(child.stderr);
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(code)).catch(() => {});
    await writer.close().catch(() => {});
    const [status, stdout, stderr] = await Promise.all([child.status, outP, errP]);
    clearTimeout(timer);
    // leftovers of the group (possible only without isolation, where there is no pid namespace)
    try {
      Deno.kill(-child.pid, "SIGKILL");
    } catch { /* the group is gone */ }
    // the CPU rlimit stops a program with SIGXCPU (SIGKILL past the hard limit); in the sandbox the
    // shell reports those as 128 + signal
    const cpuKilled = killed === null &&
      (status.signal === "SIGXCPU" || status.signal === "SIGKILL" || status.code === 152 ||
        status.code === 137);
    const timeout = killed === "timeout" || cpuKilled;
    const outputExceeded = killed === "output";
    const leftover = this.isolated && status.code === LEFTOVER_STATUS;
    const success = status.success && killed === null;
    const lastLine = stderr.trim().split("\n").at(-1) || null;
    let error: string | null = null;
    if (timeout) error = `timed out after ${o.timeoutMs} ms`;
    else if (outputExceeded) error = `output exceeded ${o.maxOutputBytes} bytes`;
    else if (leftover) error = "left a background process running after it exited (killed)";
    else if (!success) error = lastLine ?? `exit status ${status.code}`;
    return {
      success,
      stdout,
      stderr,
      error,
      timeout,
      memoryExceeded: stderr.includes("MemoryError"),
      outputExceeded,
      exitCode: killed === "timeout" ? null : status.code,
    };
  }
}

function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}

async function findPython(): Promise<string> {
  const fromEnv = Deno.env.get(SANDBOX_PYTHON_ENV);
  if (fromEnv) return fromEnv;
  if (await isFile("/usr/bin/python3")) return "/usr/bin/python3";
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    if (dir && await isFile(`${dir}/python3`)) return await Deno.realPath(`${dir}/python3`);
  }
  throw new UserError(`no python3 found for the code sandbox: install python3 or set ${SANDBOX_PYTHON_ENV}`);
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch {
    return false;
  }
}

async function which(cmd: string): Promise<boolean> {
  for (const dir of SYSTEM_PATH.split(":").concat((Deno.env.get("PATH") ?? "").split(":"))) {
    if (dir && await isFile(`${dir}/${cmd}`)) return true;
  }
  return false;
}

function isRoot(): boolean {
  return Deno.uid() === 0;
}

/**
 * The command that enters the sandbox, up to (not including) the program: setpriv to nobody when root,
 * then bwrap with the mounts described at the top of this file.
 */
async function bwrapPrefix(o: { python: string; workDirBytes: number }): Promise<string[]> {
  const mounts: string[] = ["--ro-bind", "/usr", "/usr"];
  // merged-/usr systems have /bin, /lib... as symlinks into /usr; others have real directories
  for (const top of ["/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"]) {
    let info: Deno.FileInfo;
    try {
      info = await Deno.lstat(top);
    } catch {
      continue;
    }
    if (info.isSymlink) mounts.push("--symlink", await Deno.readLink(top), top);
    else if (info.isDirectory) mounts.push("--ro-bind", top, top);
  }
  const real = await Deno.realPath(o.python);
  if (!real.startsWith("/usr/") && !real.startsWith("/bin/")) {
    // e.g. a pyenv interpreter: bind its own prefix (…/bin/python3 -> …), read-only, and nothing around it
    const prefix = real.split("/").slice(0, -2).join("/");
    mounts.push("--ro-bind", prefix, prefix);
  }
  const drop = isRoot()
    ? [
      "setpriv",
      `--reuid=${NOBODY}`,
      `--regid=${NOBODY}`,
      "--clear-groups",
      "--inh-caps=-all",
      "--bounding-set=-all",
      "--no-new-privs",
    ]
    : [];
  return [
    ...drop,
    bwrap(),
    "--unshare-all",
    "--die-with-parent",
    "--new-session",
    "--clearenv",
    "--setenv",
    "PATH",
    SYSTEM_PATH,
    "--setenv",
    "LANG",
    "C.UTF-8",
    "--setenv",
    "HOME",
    "/tmp",
    ...mounts,
    "--proc",
    "/proc",
    "--dev",
    "/dev",
    "--remount-ro",
    "/dev",
    "--size",
    String(o.workDirBytes),
    "--tmpfs",
    "/tmp",
    "--chdir",
    "/tmp",
    "--remount-ro",
    "/",
    "--uid",
    String(NOBODY),
    "--gid",
    String(NOBODY),
    "--",
  ];
}

/** Null when a trial run in bubblewrap works; else why not. */
async function isolationProblem(python: string): Promise<string | null> {
  for (const cmd of [bwrap(), "setsid", "prlimit", ...(isRoot() ? ["setpriv"] : [])]) {
    if (!(cmd.startsWith("/") ? await isFile(cmd) : await which(cmd))) return `${cmd} is not installed`;
  }
  const args = [...await bwrapPrefix({ python, workDirBytes: 2 ** 20 }), python, "-I", "-c", "print(6*7)"];
  try {
    const out = await new Deno.Command(args[0], {
      args: args.slice(1),
      clearEnv: true,
      env: { PATH: SYSTEM_PATH },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (out.success && new TextDecoder().decode(out.stdout).trim() === "42") return null;
    const msg = new TextDecoder().decode(out.stderr).trim().split("\n").at(-1);
    return `a trial run failed: ${msg || `exit status ${out.code}`}`;
  } catch (err) {
    return `a trial run failed: ${(err as Error).message}`;
  }
}
