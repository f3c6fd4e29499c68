// The rendezvous on 127.0.0.1, ranks as concurrent calls in one process: everyone gets rank 0's id; a
// missing rank, a disagreeing world size, a duplicate rank, an absent rank 0 and a busy port all end in
// an error naming the problem within the timeout.
import { assert, assertEquals, assertRejects, assertStringIncludes } from "@std/assert";
import { type DistEnv, rendezvous, single } from "../src/dist/mod.ts";
import { UserError } from "../src/common/errors.ts";
import { freePort } from "./dist/util.ts";

const envOf = (rank: number, worldSize: number, port: number): DistEnv => ({
  ...single(),
  launcher: "torchrun",
  rank,
  worldSize,
  localWorldSize: worldSize,
  localRank: rank,
  masterPort: port,
  rendezvousPort: port,
});

const idOf = (seed: number) => Uint8Array.from({ length: 128 }, (_, i) => (i * 31 + seed) & 0xff);

async function errorOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    assert(err instanceof UserError, `not a UserError: ${err}`);
    return err.message;
  }
  throw new Error("expected a failure");
}

Deno.test("rendezvous: every rank gets rank 0's id, made once after all joined", async () => {
  const port = freePort();
  let made = 0;
  const makeId = () => {
    made++;
    return idOf(7);
  };
  // Ranks 1 and 2 start before rank 0 is listening: they retry.
  const others = [1, 2].map((r) => rendezvous(envOf(r, 3, port), { timeoutMs: 10_000 }));
  await new Promise((r) => setTimeout(r, 300));
  const ids = await Promise.all([rendezvous(envOf(0, 3, port), { makeId, timeoutMs: 10_000 }), ...others]);
  for (const id of ids) assertEquals(id, idOf(7));
  assertEquals(made, 1);
});

Deno.test("rendezvous: one rank needs no network", async () => {
  assertEquals(await rendezvous(envOf(0, 1, 1), { makeId: () => idOf(1) }), idOf(1));
});

Deno.test("rendezvous: a rank that never comes is named, and the others hear it", async () => {
  const port = freePort();
  const t0 = performance.now();
  const [e0, e1] = await Promise.all([
    errorOf(rendezvous(envOf(0, 4, port), { makeId: () => idOf(0), timeoutMs: 1500 })),
    errorOf(rendezvous(envOf(1, 4, port), { timeoutMs: 5000 })),
  ]);
  assertStringIncludes(e0, `ranks 2, 3 of 4 did not join the rendezvous at 127.0.0.1:${port} within 1.5 s`);
  assertStringIncludes(e1, "rank 0 reports: ranks 2, 3 of 4 did not join");
  assert(
    performance.now() - t0 < 4000,
    "the joined rank must learn the failure from rank 0, not its own timeout",
  );
});

Deno.test("rendezvous: a rank with another world size fails the run", async () => {
  const port = freePort();
  const [e0, e1, e2] = await Promise.all([
    errorOf(rendezvous(envOf(0, 3, port), { makeId: () => idOf(0), timeoutMs: 5000 })),
    errorOf(rendezvous(envOf(1, 3, port), { timeoutMs: 5000 })),
    errorOf(rendezvous(envOf(2, 4, port), { timeoutMs: 5000 })),
  ]);
  const msg = "rank 2 says the world size is 4, but rank 0 has 3";
  for (const e of [e0, e2]) assertStringIncludes(e, msg);
  // rank 1 either joined before the refusal (and is told) or came later (and finds nobody listening)
  assert(e1.includes(msg) || e1.includes("could not reach rank 0"), e1);
});

Deno.test("rendezvous: two processes claiming the same rank", async () => {
  const port = freePort();
  const results = await Promise.all([
    errorOf(rendezvous(envOf(0, 3, port), { makeId: () => idOf(0), timeoutMs: 5000 })),
    errorOf(rendezvous(envOf(1, 3, port), { timeoutMs: 5000 })),
    errorOf(rendezvous(envOf(1, 3, port), { timeoutMs: 5000 })),
  ]);
  assertStringIncludes(results[0], "two processes say they are rank 1: check --node-rank on every node");
});

Deno.test("rendezvous: no rank 0 within the timeout", async () => {
  const port = freePort();
  const e = await errorOf(rendezvous(envOf(1, 2, port), { timeoutMs: 700 }));
  assertStringIncludes(e, `could not reach rank 0 at 127.0.0.1:${port} within 0.7 s`);
  assertStringIncludes(e, "are MASTER_ADDR/MASTER_PORT (--master-addr/--master-port) right?");
});

Deno.test("rendezvous: a busy port and a bad id are refused", async () => {
  const busy = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (busy.addr as Deno.NetAddr).port;
  try {
    await assertRejects(
      () => rendezvous(envOf(0, 2, port), { makeId: () => idOf(0), timeoutMs: 1000 }),
      UserError,
      `port ${port} is already in use on this host (another run?): choose another with --master-port`,
    );
  } finally {
    busy.close();
  }
  await assertRejects(
    () => rendezvous(envOf(0, 1, 1), { makeId: () => new Uint8Array(5) }),
    UserError,
    "the communicator id must be 128 bytes",
  );
  const p = freePort();
  const [e0, e1] = await Promise.all([
    errorOf(rendezvous(envOf(0, 2, p), {
      makeId: () => {
        throw new Error("no store");
      },
      timeoutMs: 5000,
    })),
    errorOf(rendezvous(envOf(1, 2, p), { timeoutMs: 5000 })),
  ]);
  assertStringIncludes(e0, "rank 0 could not create the communicator id: no store");
  assertStringIncludes(e1, "rank 0 reports: rank 0 could not create the communicator id: no store");
});
