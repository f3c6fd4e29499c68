// The rendezvous: rank 0 listens on MASTER_ADDR:MASTER_PORT (TCP), every other rank connects and says
// who it is, and once all have joined rank 0 makes the communicator's 128-byte unique id and hands it to
// each of them. It fails with a message, never hangs: after the timeout rank 0 names the ranks that did
// not show up, and a rank whose world size (or rank) disagrees is refused, failing the whole run.
//
// Protocol (one JSON line each way):
//   rank r → rank 0:  {"proto":"nanochat-rendezvous/1","rank":r,"worldSize":W}
//   rank 0 → rank r:  {"ok":true,"id":"<base64 of 128 bytes>"}  or  {"ok":false,"error":"..."}
import { UserError } from "../common/errors.ts";
import type { DistEnv } from "./env.ts";

/** Size of the communicator id (NCCL's ncclUniqueId; the Gloo backend's id has the same size). */
export const UNIQUE_ID_BYTES = 128;

/** Default bound on the rendezvous: how long rank 0 waits for everyone, and a rank for rank 0's answer. */
export const RENDEZVOUS_TIMEOUT_MS = 300_000;

const PROTO = "nanochat-rendezvous/1";
const MAX_LINE = 64 * 1024;
const RETRY_MS = 100;

export interface RendezvousOptions {
  /** Rank 0 only: makes the id once every rank has joined (e.g. the communicator's unique_id()). */
  makeId?: () => Uint8Array | Promise<Uint8Array>;
  timeoutMs?: number;
}

/** Meets every rank of `env` and returns the id rank 0 made (rank 0 returns its own). */
export async function rendezvous(env: DistEnv, options: RendezvousOptions = {}): Promise<Uint8Array> {
  const timeoutMs = options.timeoutMs ?? RENDEZVOUS_TIMEOUT_MS;
  if (env.rank === 0) {
    if (!options.makeId) throw new UserError("rendezvous: rank 0 needs makeId to create the communicator id");
    return await serve(env, options.makeId, Date.now() + timeoutMs, timeoutMs);
  }
  return await join(env, Date.now() + timeoutMs, timeoutMs);
}

function where(env: DistEnv): string {
  return `${env.masterAddr}:${env.rendezvousPort}`;
}

function seconds(ms: number): string {
  return `${Math.round(ms / 100) / 10} s`;
}

async function checkedId(make: () => Uint8Array | Promise<Uint8Array>): Promise<Uint8Array> {
  const id = await make();
  if (!(id instanceof Uint8Array) || id.length !== UNIQUE_ID_BYTES) {
    throw new UserError(`rendezvous: the communicator id must be ${UNIQUE_ID_BYTES} bytes`);
  }
  return id;
}

// ---- rank 0

async function serve(
  env: DistEnv,
  makeId: () => Uint8Array | Promise<Uint8Array>,
  deadline: number,
  timeoutMs: number,
): Promise<Uint8Array> {
  if (env.worldSize === 1) return await checkedId(makeId);
  const loopback = isLoopback(env.masterAddr);
  let listener: Deno.TcpListener;
  try {
    listener = Deno.listen({ hostname: loopback ? "127.0.0.1" : "0.0.0.0", port: env.rendezvousPort });
  } catch (err) {
    if (err instanceof Deno.errors.AddrInUse) {
      throw new UserError(
        `rendezvous: port ${env.rendezvousPort} is already in use on this host (another run?): ` +
          `choose another with --master-port or MASTER_PORT`,
      );
    }
    throw new UserError(`rendezvous: cannot listen on port ${env.rendezvousPort}: ${(err as Error).message}`);
  }

  const joined = new Map<number, Deno.Conn>();
  let failure: string | null = null;
  let finish: () => void = () => {};
  const settled = new Promise<void>((resolve) => (finish = resolve));
  const fail = (message: string) => {
    failure ??= message;
    finish();
  };

  const pending = new Set<Deno.Conn>(); // connected, hello not read yet
  const admit = async (conn: Deno.Conn) => {
    let hello: { proto?: unknown; rank?: unknown; worldSize?: unknown };
    pending.add(conn);
    try {
      hello = JSON.parse(await readLine(conn, deadline));
    } catch {
      closeQuietly(conn); // not one of ours (a port scan, a stale client): ignore it
      return;
    } finally {
      pending.delete(conn);
    }
    const rank = hello.rank;
    let refusal: string | null = null;
    if (hello.proto !== PROTO) refusal = `unknown rendezvous protocol ${JSON.stringify(hello.proto)}`;
    else if (typeof rank !== "number" || !Number.isInteger(rank) || rank < 1 || rank >= env.worldSize) {
      refusal = `a process says it is rank ${JSON.stringify(rank)}, outside 1..${env.worldSize - 1}`;
    } else if (hello.worldSize !== env.worldSize) {
      refusal = `rank ${rank} says the world size is ${hello.worldSize}, but rank 0 has ${env.worldSize}: ` +
        `start every rank with the same world size (--nnodes x --nproc-per-node)`;
    } else if (joined.has(rank)) {
      refusal = `two processes say they are rank ${rank}: check --node-rank on every node`;
    }
    if (refusal !== null) {
      await reply(conn, { ok: false, error: refusal });
      conn.close();
      fail(refusal);
      return;
    }
    joined.set(rank as number, conn);
    if (joined.size === env.worldSize - 1) finish();
  };

  const acceptLoop = (async () => {
    try {
      for await (const conn of listener) admit(conn).catch(() => closeQuietly(conn));
    } catch {
      // the listener was closed
    }
  })();
  const timer = setTimeout(() => {
    const missing = [];
    for (let r = 1; r < env.worldSize; r++) if (!joined.has(r)) missing.push(r);
    fail(
      `ranks ${missing.join(", ")} of ${env.worldSize} did not join the rendezvous at ${where(env)} within ` +
        `${seconds(timeoutMs)}: start the same command on every node (check --nnodes, --node-rank, ` +
        `--master-addr) and make sure ${where(env)} is reachable from them`,
    );
  }, Math.max(0, deadline - Date.now()));

  try {
    await settled;
    clearTimeout(timer);
    listener.close();
    await acceptLoop;
    for (const c of pending) closeQuietly(c);
    let id: Uint8Array | null = null;
    if (failure === null) {
      try {
        id = await checkedId(makeId);
      } catch (err) {
        failure = `rank 0 could not create the communicator id: ${(err as Error).message}`;
      }
    }
    const answer = failure === null ? { ok: true, id: toBase64(id!) } : { ok: false, error: failure };
    await Promise.all([...joined.values()].map((c) => reply(c, answer)));
    if (failure !== null) throw new UserError(`rendezvous: ${failure}`);
    return id!;
  } finally {
    clearTimeout(timer);
    for (const c of joined.values()) closeQuietly(c);
  }
}

// ---- every other rank

async function join(env: DistEnv, deadline: number, timeoutMs: number): Promise<Uint8Array> {
  const conn = await connectWithRetry(env, deadline, timeoutMs);
  try {
    await reply(conn, { proto: PROTO, rank: env.rank, worldSize: env.worldSize });
    let line: string;
    try {
      line = await readLine(conn, deadline);
    } catch (err) {
      if (err instanceof TimeoutError) {
        throw new UserError(
          `rendezvous: rank 0 at ${where(env)} did not answer within ${seconds(timeoutMs)} ` +
            `(it waits for every rank: is every node started?)`,
        );
      }
      throw new UserError(
        `rendezvous: rank 0 at ${where(env)} closed the connection without an answer ` +
          `(it failed or was stopped: see rank 0's log)`,
      );
    }
    let answer: { ok?: unknown; id?: unknown; error?: unknown };
    try {
      answer = JSON.parse(line);
    } catch {
      throw new UserError(
        `rendezvous: ${where(env)} is not a nanochat rank 0 (it answered ${line.slice(0, 60)})`,
      );
    }
    if (answer.ok !== true) throw new UserError(`rendezvous: rank 0 reports: ${String(answer.error)}`);
    const id = fromBase64(String(answer.id));
    if (id.length !== UNIQUE_ID_BYTES) {
      throw new UserError("rendezvous: rank 0 sent a malformed communicator id");
    }
    return id;
  } finally {
    closeQuietly(conn);
  }
}

async function connectWithRetry(env: DistEnv, deadline: number, timeoutMs: number): Promise<Deno.Conn> {
  let last = "";
  while (Date.now() < deadline) {
    try {
      return await Deno.connect({ hostname: env.masterAddr, port: env.rendezvousPort });
    } catch (err) {
      last = (err as Error).message;
      await new Promise((r) => setTimeout(r, RETRY_MS)); // rank 0 may not be listening yet
    }
  }
  throw new UserError(
    `rendezvous: could not reach rank 0 at ${where(env)} within ${seconds(timeoutMs)} (${last}): ` +
      `is rank 0 running, and are MASTER_ADDR/MASTER_PORT (--master-addr/--master-port) right?`,
  );
}

// ---- line I/O with a deadline

class TimeoutError extends Error {}

async function readLine(conn: Deno.Conn, deadline: number): Promise<string> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  const buf = new Uint8Array(4096);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TimeoutError("timed out")), Math.max(0, deadline - Date.now()));
  });
  timeout.catch(() => {});
  try {
    for (;;) {
      const read = conn.read(buf);
      read.catch(() => {}); // if the timeout wins, the read fails later when the connection closes
      const n = await Promise.race([read, timeout]);
      if (n === null) throw new Error("connection closed");
      const chunk = buf.slice(0, n);
      const nl = chunk.indexOf(10);
      chunks.push(nl >= 0 ? chunk.subarray(0, nl) : chunk);
      size += chunk.length;
      if (nl >= 0) break;
      if (size > MAX_LINE) throw new Error("line too long");
    }
  } finally {
    clearTimeout(timer);
  }
  const all = new Uint8Array(chunks.reduce((s, c) => s + c.length, 0));
  let off = 0;
  for (const c of chunks) {
    all.set(c, off);
    off += c.length;
  }
  return new TextDecoder().decode(all);
}

async function reply(conn: Deno.Conn, message: unknown): Promise<void> {
  const bytes = new TextEncoder().encode(JSON.stringify(message) + "\n");
  try {
    let off = 0;
    while (off < bytes.length) off += await conn.write(bytes.subarray(off));
  } catch {
    // the other side is gone; its own timeout or exit reports that
  }
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // already closed
  }
}

function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || host.startsWith("127.");
}

function toBase64(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes));
}

function fromBase64(text: string): Uint8Array {
  try {
    return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
  } catch {
    return new Uint8Array(0);
  }
}
