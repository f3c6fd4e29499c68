// End to end: a real multi-process program (tests/dist/allreduce_demo.ts: rendezvous, Gloo communicator
// through the kernels/dist shim, checked all-reduces) started by our launcher on one and on two
// "nodes", by a plain shell loop with torchrun's variables, by one with SLURM's, and by Open MPI's mpirun;
// and a rank killed with SIGKILL, under the launcher and under the shell loop.
import { assert, assertEquals, assertStringIncludes } from "@std/assert";
import { denoScript, freePort, run } from "./dist/util.ts";

const demo = (...args: string[]) => denoScript("allreduce_demo.ts", ...args);
const sh = (cmd: string) => ["bash", "-c", cmd];
const quoted = (argv: string[]) => argv.map((a) => `'${a}'`).join(" ");

Deno.test("all-reduce across 2 ranks started by our launcher", async () => {
  const r = await run(demo("--nproc-per-node", "2", "--master-port", String(freePort())));
  assertEquals(r.code, 0, r.err);
  assertStringIncludes(r.out, "allreduce ok: 2 ranks on 1 node(s) via nanochat, 3 steps of 100003 floats");
});

Deno.test("all-reduce across 2 'nodes' on 127.0.0.1: two launchers with --nnodes 2", async () => {
  const port = String(freePort());
  const node = (r: string) =>
    run(demo("--nproc-per-node", "2", "--nnodes", "2", "--node-rank", r, "--master-port", port));
  const [n1, n0] = await Promise.all([node("1"), node("0")]);
  assertEquals([n0.code, n1.code], [0, 0], n0.err + n1.err);
  assertStringIncludes(n0.out, "allreduce ok: 4 ranks on 2 node(s) via nanochat");
  assertEquals(n1.out, ""); // only rank 0 reports
});

Deno.test("all-reduce across 3 ranks started by a shell loop with torchrun's variables", async () => {
  const port = freePort();
  const r = await run(sh(
    `for r in 0 1 2; do RANK=$r WORLD_SIZE=3 LOCAL_RANK=$r LOCAL_WORLD_SIZE=3 MASTER_ADDR=127.0.0.1 ` +
      `MASTER_PORT=${port} ${
        quoted(demo())
      } & done; fail=0; for j in $(jobs -p); do wait $j || fail=1; done; exit $fail`,
  ));
  assertEquals(r.code, 0, r.err);
  assertStringIncludes(r.out, "allreduce ok: 3 ranks on 1 node(s) via torchrun");
});

Deno.test("all-reduce across 2 ranks started with SLURM's variables", async () => {
  const port = freePort();
  const r = await run(sh(
    `for r in 0 1; do SLURM_STEP_ID=0 SLURM_JOB_ID=1 SLURM_PROCID=$r SLURM_NTASKS=2 SLURM_LOCALID=$r SLURM_NODEID=0 ` +
      `SLURM_NNODES=1 SLURM_TASKS_PER_NODE=2 SLURM_JOB_NODELIST='localhost' MASTER_PORT=${port} ` +
      `${quoted(demo())} & done; fail=0; for j in $(jobs -p); do wait $j || fail=1; done; exit $fail`,
  ));
  assertEquals(r.code, 0, r.err);
  assertStringIncludes(r.out, "allreduce ok: 2 ranks on 1 node(s) via slurm");
});

Deno.test("all-reduce across 3 ranks started by Open MPI's mpirun", async () => {
  const r = await run(
    ["mpirun", "--oversubscribe", "-np", "3", "-x", `MASTER_PORT=${freePort()}`, ...demo()],
    { OMPI_ALLOW_RUN_AS_ROOT: "1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM: "1", OMPI_MCA_plm_rsh_agent: "" },
  );
  assertEquals(r.code, 0, r.err);
  assertStringIncludes(r.out, "allreduce ok: 3 ranks on 1 node(s) via mpirun");
});

Deno.test("kill -9 of one rank under the launcher: the launcher exits 137 naming it", async () => {
  const r = await run(demo("--nproc-per-node", "3", "--die-rank", "1", "--master-port", String(freePort())));
  assertEquals(r.code, 137);
  assertStringIncludes(r.err, "launch: rank 1 (local rank 1 on node 0");
  assertStringIncludes(r.err, "was killed by SIGKILL; stopped the other 2 ranks of this node");
});

Deno.test("kill -9 of one rank without a launcher: the others fail at once, not at the timeout", async () => {
  const port = freePort();
  // 60 s communicator timeout: finishing far sooner proves the dead peer was noticed by its closed sockets.
  const r = await run(sh(
    `for r in 0 1 2; do RANK=$r WORLD_SIZE=3 MASTER_PORT=${port} ${
      quoted(demo("--die-rank", "2", "--timeout-ms", "60000"))
    } ` +
      `& done; for j in $(jobs -p); do wait $j; echo "exit $?"; done`,
  ));
  assert(r.seconds < 30, `took ${r.seconds} s`);
  assertEquals(r.out.trim().split("\n").filter((l) => l.startsWith("exit")).sort(), [
    "exit 1",
    "exit 1",
    "exit 137",
  ]);
  for (const rank of [0, 1]) {
    assertStringIncludes(r.err, `[rank ${rank}/3] allreduce demo failed: `);
  }
  assertStringIncludes(r.err, "a peer process exited or its host became unreachable");
});
