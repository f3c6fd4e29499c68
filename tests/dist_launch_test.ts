// Our launcher on a tiny child program (tests/dist/program.ts): flags, the torchrun-style environment of
// every child, a failing or killed child stopping the rest with a message naming its rank, SIGTERM and
// SIGINT forwarded to every child, and refusal inside an existing launch.
import { assert, assertEquals, assertRejects, assertStringIncludes, assertThrows } from "@std/assert";
import { launch, parseLaunchFlags } from "../src/dist/mod.ts";
import { UserError } from "../src/common/errors.ts";
import { denoScript, freePort, run, Watched } from "./dist/util.ts";

Deno.test("launcher flags: both spellings, anywhere before --, validated", () => {
  const { spec, rest } = parseLaunchFlags([
    "train",
    "--nproc-per-node=4",
    "base",
    "--nnodes",
    "2",
    "--node-rank",
    "1",
    "--master-addr",
    "head",
    "--master-port=1234",
    "--depth",
    "4",
    "--",
    "--nnodes",
    "9",
  ]);
  assertEquals(spec, { nprocPerNode: 4, nnodes: 2, nodeRank: 1, masterAddr: "head", masterPort: 1234 });
  assertEquals(rest, ["train", "base", "--depth", "4", "--", "--nnodes", "9"]);
  assertEquals(parseLaunchFlags(["train", "base"]), { spec: null, rest: ["train", "base"] });
  assertEquals(parseLaunchFlags(["--nproc-per-node", "2"]).spec, {
    nprocPerNode: 2,
    nnodes: 1,
    nodeRank: 0,
    masterAddr: "127.0.0.1",
    masterPort: 29500,
  });
  const bad: [string[], string][] = [
    [["--nnodes", "2"], "--nnodes only make sense with --nproc-per-node"],
    [["--nproc-per-node", "0"], "--nproc-per-node 0: expected an integer from 1 to 1024"],
    [["--nproc-per-node", "two"], "expected an integer"],
    [
      ["--nproc-per-node", "2", "--nnodes", "2", "--node-rank", "2"],
      "--node-rank 2: expected an integer from 0 to 1",
    ],
    [["--nproc-per-node", "2", "--master-port", "65536"], "--master-port 65536"],
    [["--nproc-per-node"], "--nproc-per-node needs a value"],
    [["--nproc-per-node", "1", "--nproc-per-node=2"], "--nproc-per-node is given twice"],
  ];
  for (const [argv, msg] of bad) assertThrows(() => parseLaunchFlags(argv), UserError, msg);
});

Deno.test("launcher: every child gets torchrun's variables and the arguments without launcher flags", async () => {
  const port = freePort();
  const r = await run(
    denoScript(
      "program.ts",
      "env",
      "a",
      "--nproc-per-node",
      "3",
      "b",
      `--master-port=${port}`,
      "--",
      "--nnodes",
      "9",
    ),
  );
  assertEquals(r.code, 0, r.err);
  const kids = r.out.trim().split("\n").map((l) => JSON.parse(l)).sort((x, y) => x.env.rank - y.env.rank);
  assertEquals(kids.length, 3);
  kids.forEach((k, i) => {
    assertEquals(k.vars, {
      RANK: String(i),
      WORLD_SIZE: "3",
      LOCAL_RANK: String(i),
      LOCAL_WORLD_SIZE: "3",
      GROUP_RANK: "0",
      MASTER_ADDR: "127.0.0.1",
      MASTER_PORT: String(port),
    });
    assertEquals(k.env.launcher, "nanochat");
    assertEquals(k.args, ["a", "b", "--", "--nnodes", "9"]);
  });
});

Deno.test("launcher: node 1 of 2 numbers its ranks after node 0's", async () => {
  const r = await run(
    denoScript("program.ts", "env", "--nproc-per-node", "2", "--nnodes", "2", "--node-rank", "1"),
  );
  assertEquals(r.code, 0, r.err);
  const ranks = r.out.trim().split("\n").map((l) => JSON.parse(l).env).sort((x, y) => x.rank - y.rank);
  assertEquals(ranks.map((e) => [e.rank, e.localRank, e.worldSize, e.nodeRank, e.numNodes]), [
    [2, 0, 4, 1, 2],
    [3, 1, 4, 1, 2],
  ]);
});

Deno.test("launcher: a child exiting non-zero stops the others and names its rank", async () => {
  const r = await run(denoScript("program.ts", "exit", "1", "3", "--nproc-per-node", "3"));
  assertEquals(r.code, 3);
  assertStringIncludes(r.err, "launch: rank 1 (local rank 1 on node 0, pid ");
  assertStringIncludes(r.err, ") exited with code 3; stopped the other 2 ranks of this node");
  assert(r.seconds < 30, `took ${r.seconds} s`);
});

Deno.test("launcher: a child killed by SIGKILL stops the others, exit 137", async () => {
  const r = await run(denoScript("program.ts", "kill", "0", "--nproc-per-node", "2"));
  assertEquals(r.code, 137);
  assertStringIncludes(r.err, "launch: rank 0 (local rank 0 on node 0, pid ");
  assertStringIncludes(r.err, ") was killed by SIGKILL; stopped the other 1 rank of this node");
});

for (const sig of ["SIGTERM", "SIGINT"] as const) {
  Deno.test(`launcher: ${sig} is forwarded to every child`, async () => {
    const w = new Watched(denoScript("program.ts", "signals", "--nproc-per-node", "2"));
    await w.until((ls) => ls.includes("ready 0") && ls.includes("ready 1"), 60_000);
    w.child.kill(sig);
    const { status, lines, err } = await w.finish();
    assertEquals(status.code, 0, err);
    assertEquals(lines.filter((l) => l.includes("got")).sort(), [`rank 0 got ${sig}`, `rank 1 got ${sig}`]);
  });
}

Deno.test("launcher: children that ignore SIGTERM are killed after the grace period", async () => {
  const t0 = performance.now();
  const script = 'if [ "$RANK" = 0 ]; then sleep 0.3; exit 5; fi; trap "" TERM; exec sleep 60';
  const reports: string[] = [];
  const code = await launch(
    { nprocPerNode: 2, nnodes: 1, nodeRank: 0, masterAddr: "127.0.0.1", masterPort: freePort() },
    { command: ["sh", "-c", script], killGraceMs: 500, report: (m) => reports.push(m) },
  );
  assertEquals(code, 5);
  assertStringIncludes(reports.join("\n"), "rank 0 (local rank 0 on node 0");
  assert(performance.now() - t0 < 10_000, "the stubborn child was not killed");
});

Deno.test("launcher: bad commands and nested launches are clear errors", async () => {
  await assertRejects(
    () =>
      launch({ nprocPerNode: 1, nnodes: 1, nodeRank: 0, masterAddr: "127.0.0.1", masterPort: 29500 }, {
        command: ["/nonexistent/program"],
      }),
    UserError,
    "launch: cannot start /nonexistent/program",
  );
  const r = await run(denoScript("program.ts", "env", "--nproc-per-node", "2"), {
    RANK: "0",
    WORLD_SIZE: "2",
    LOCAL_WORLD_SIZE: "2",
  });
  assertEquals(r.code, 1);
  assertStringIncludes(
    r.err,
    "this process is already rank 0 of 2 started by torchrun; drop --nproc-per-node",
  );
});
