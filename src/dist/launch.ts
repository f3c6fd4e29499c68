// Our launcher: `--nproc-per-node N [--nnodes M --node-rank R --master-addr A --master-port P]` on a
// command starts N copies of the same command on this node, each with torchrun's variables (RANK,
// WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, GROUP_RANK, MASTER_ADDR, MASTER_PORT), then supervises them:
//   - SIGINT/SIGTERM/SIGHUP sent to the launcher are forwarded to every child, one for one (the children
//     run in their own session, as under torchrun, so a terminal's Ctrl-C reaches them only this way);
//   - when a child exits non-zero or is killed, the others get SIGTERM (SIGKILL after a grace period)
//     and the launcher exits non-zero naming the rank;
//   - when every child exits 0, so does the launcher.
// Multi-node: run one launcher per node with the same --nnodes/--master-addr/--master-port and its own
// --node-rank; the ranks meet in the rendezvous (rendezvous.ts), not in the launchers.
import { basename } from "node:path";
import { fileURLToPath } from "node:url";
import { UserError } from "../common/errors.ts";
import { DEFAULT_MASTER_PORT, readDistEnv } from "./env.ts";

/** What to start on this node. */
export interface LaunchSpec {
  nprocPerNode: number;
  nnodes: number;
  nodeRank: number;
  masterAddr: string;
  masterPort: number;
}

export interface LaunchOptions {
  /** The command each child runs: program and arguments (the launcher flags already removed). */
  command: string[];
  /** Extra environment for every child. */
  env?: Record<string, string>;
  /** How long children get between SIGTERM and SIGKILL when a sibling failed (default 5 s). */
  killGraceMs?: number;
  /** Where the launcher's own messages go (default: stderr). */
  report?: (message: string) => void;
}

interface Child {
  rank: number;
  local: number;
  proc: Deno.ChildProcess;
  status: Deno.CommandStatus | null;
}

/** The launcher's flags, as `--help` should list them. */
export const LAUNCH_FLAGS_HELP = [
  "--nproc-per-node <n>  start n processes on this node (one per device), torchrun-style",
  "--nnodes <m>          number of nodes (default 1); run one launcher per node",
  "--node-rank <r>       this node's index, 0..m-1 (default 0)",
  "--master-addr <host>  host of rank 0, reachable from every node (default 127.0.0.1)",
  `--master-port <port>  rendezvous port on that host (default ${DEFAULT_MASTER_PORT})`,
];

const FLAGS = ["--nproc-per-node", "--nnodes", "--node-rank", "--master-addr", "--master-port"] as const;
type Flag = typeof FLAGS[number];

/**
 * Splits the launcher flags out of `argv` (as `--flag value` or `--flag=value`, anywhere before a `--`).
 * Returns the spec (null when --nproc-per-node is absent) and the remaining arguments.
 */
export function parseLaunchFlags(argv: string[]): { spec: LaunchSpec | null; rest: string[] } {
  const found = new Map<Flag, string>();
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--") {
      rest.push(...argv.slice(i));
      break;
    }
    const flag = FLAGS.find((f) => a === f || a.startsWith(f + "="));
    if (!flag) {
      rest.push(a);
      continue;
    }
    let value: string | undefined = a.length > flag.length ? a.slice(flag.length + 1) : argv[++i];
    if (value === undefined || value === "") throw new UserError(`${flag} needs a value`);
    if (found.has(flag)) throw new UserError(`${flag} is given twice`);
    value = value.trim();
    found.set(flag, value);
  }
  if (!found.has("--nproc-per-node")) {
    const stray = [...found.keys()];
    if (stray.length > 0) throw new UserError(`${stray.join(", ")} only make sense with --nproc-per-node`);
    return { spec: null, rest };
  }
  const int = (flag: Flag, dflt: number, min: number, max = Number.MAX_SAFE_INTEGER) => {
    const raw = found.get(flag);
    if (raw === undefined) return dflt;
    const n = Number(raw);
    if (!/^\d+$/.test(raw) || n < min || n > max) {
      throw new UserError(`${flag} ${raw}: expected an integer from ${min} to ${max}`);
    }
    return n;
  };
  const nnodes = int("--nnodes", 1, 1, 100_000);
  const spec: LaunchSpec = {
    nprocPerNode: int("--nproc-per-node", 1, 1, 1024),
    nnodes,
    nodeRank: int("--node-rank", 0, 0, nnodes - 1),
    masterAddr: found.get("--master-addr") ?? "127.0.0.1",
    masterPort: int("--master-port", DEFAULT_MASTER_PORT, 1, 65535),
  };
  return { spec, rest };
}

/** The command that runs this same program again: the compiled binary, or `deno run -A <main module>`. */
export function selfCommand(args: string[]): string[] {
  const exe = Deno.execPath();
  if (basename(exe).startsWith("deno") && Deno.mainModule.startsWith("file:")) {
    return [exe, "run", "-A", fileURLToPath(Deno.mainModule), ...args];
  }
  return [exe, ...args];
}

/**
 * The CLI's entry to the launcher: when `argv` has --nproc-per-node, starts the children (running
 * `command(rest)`, by default this same program) and resolves to the exit code to exit with; otherwise
 * resolves to null and the caller runs normally.
 */
export async function maybeLaunch(
  argv: string[],
  options: { command?: (rest: string[]) => string[]; env?: Record<string, string> } = {},
): Promise<number | null> {
  const { spec, rest } = parseLaunchFlags(argv);
  if (!spec) return null;
  const outer = readDistEnv(Deno.env.toObject());
  if (outer.launcher !== "none" && outer.localWorldSize > 1) {
    throw new UserError(
      `--nproc-per-node: this process is already rank ${outer.rank} of ${outer.worldSize} started by ` +
        `${outer.launcher}; drop --nproc-per-node, or start one task per node`,
    );
  }
  return await launch(spec, { command: (options.command ?? selfCommand)(rest), env: options.env });
}

/** Starts spec.nprocPerNode children of `options.command` and supervises them; resolves to the exit code. */
export async function launch(spec: LaunchSpec, options: LaunchOptions): Promise<number> {
  const report = options.report ?? ((m: string) => console.error(m));
  const grace = options.killGraceMs ?? 5000;
  const world = spec.nnodes * spec.nprocPerNode;
  const [program, ...args] = options.command;
  // Our launcher's children read their place from these; numbering is torchrun's.
  const children: Child[] = [];
  for (let local = 0; local < spec.nprocPerNode; local++) {
    const rank = spec.nodeRank * spec.nprocPerNode + local;
    const env: Record<string, string> = {
      ...options.env,
      NANOCHAT_LAUNCHER: "1",
      RANK: String(rank),
      WORLD_SIZE: String(world),
      LOCAL_RANK: String(local),
      LOCAL_WORLD_SIZE: String(spec.nprocPerNode),
      GROUP_RANK: String(spec.nodeRank),
      GROUP_WORLD_SIZE: String(spec.nnodes),
      MASTER_ADDR: spec.masterAddr,
      MASTER_PORT: String(spec.masterPort),
    };
    let proc: Deno.ChildProcess;
    try {
      proc = new Deno.Command(program, {
        args,
        env,
        stdin: local === 0 ? "inherit" : "null",
        stdout: "inherit",
        stderr: "inherit",
        detached: true,
      }).spawn();
    } catch (err) {
      for (const c of children) c.proc.kill("SIGKILL");
      throw new UserError(`launch: cannot start ${program}: ${(err as Error).message}`);
    }
    children.push({ rank, local, proc, status: null });
  }

  const live = () => children.filter((c) => c.status === null);
  const signal = (sig: Deno.Signal) => {
    for (const c of live()) {
      try {
        c.proc.kill(sig);
      } catch {
        // it exited meanwhile
      }
    }
  };
  const forwarded: Deno.Signal[] = ["SIGINT", "SIGTERM", "SIGHUP"];
  const forwarders = forwarded.map((sig) => [sig, () => signal(sig)] as const);
  for (const [sig, fn] of forwarders) Deno.addSignalListener(sig, fn);

  // The first child to fail decides the outcome; the others are stopped.
  const first: { child: Child | null } = { child: null };
  let killTimer: ReturnType<typeof setTimeout> | undefined;
  try {
    await Promise.all(children.map(async (c) => {
      c.status = await c.proc.status;
      if (!c.status.success && first.child === null) {
        first.child = c;
        signal("SIGTERM");
        killTimer = setTimeout(() => signal("SIGKILL"), grace);
      }
    }));
  } finally {
    clearTimeout(killTimer);
    for (const [sig, fn] of forwarders) Deno.removeSignalListener(sig, fn);
  }
  const f = first.child;
  if (f === null || f.status === null) return 0;
  const how = f.status.signal ? `was killed by ${f.status.signal}` : `exited with code ${f.status.code}`;
  const others = children.length - 1;
  report(
    `launch: rank ${f.rank} (local rank ${f.local} on node ${spec.nodeRank}, pid ${f.proc.pid}) ${how}` +
      (others > 0 ? `; stopped the other ${others} rank${others > 1 ? "s" : ""} of this node` : ""),
  );
  return f.status.code !== 0 ? f.status.code : 1;
}
