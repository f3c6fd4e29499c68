// The rank environment of every launcher we meet: torchrun (and our own launcher), SLURM's srun with its
// node-list syntax, Open MPI's mpirun, which one wins when several are present, and bad values.
import { assertEquals, assertThrows } from "@std/assert";
import { type DistEnv, expandSlurmNodelist, expandSlurmTasksPerNode, readDistEnv } from "../src/dist/mod.ts";
import { UserError } from "../src/common/errors.ts";

type Env = Record<string, string>;
const pick = (
  e: DistEnv,
) => [e.launcher, e.rank, e.worldSize, e.localRank, e.localWorldSize, e.nodeRank, e.numNodes];
const addr = (e: DistEnv) => [e.masterAddr, e.masterPort, e.rendezvousPort];

Deno.test("no launcher: a single process", () => {
  const e = readDistEnv({ HOME: "/root", SLURM_JOB_ID: "7", SLURM_PROCID: "0", SLURM_NTASKS: "8" });
  // an sbatch script has SLURM_PROCID/SLURM_NTASKS but no step: not a rank of a distributed run
  assertEquals(pick(e), ["none", 0, 1, 0, 1, 0, 1]);
  assertEquals(addr(e), ["127.0.0.1", 29500, 29500]);
});

Deno.test("torchrun and our launcher", () => {
  const base: Env = {
    RANK: "5",
    WORLD_SIZE: "8",
    LOCAL_RANK: "1",
    LOCAL_WORLD_SIZE: "4",
    MASTER_ADDR: "10.0.0.1",
    MASTER_PORT: "29400",
  };
  const cases: [Env, unknown[], unknown[]][] = [
    [base, ["torchrun", 5, 8, 1, 4, 1, 2], ["10.0.0.1", 29400, 29400]],
    [{ ...base, GROUP_RANK: "1", GROUP_WORLD_SIZE: "2" }, ["torchrun", 5, 8, 1, 4, 1, 2], [
      "10.0.0.1",
      29400,
      29400,
    ]],
    [{ ...base, NANOCHAT_LAUNCHER: "1" }, ["nanochat", 5, 8, 1, 4, 1, 2], ["10.0.0.1", 29400, 29400]],
    // torchrun's agent holds MASTER_PORT with its own store: the rendezvous takes the next port
    [{ ...base, TORCHELASTIC_USE_AGENT_STORE: "True" }, ["torchrun", 5, 8, 1, 4, 1, 2], [
      "10.0.0.1",
      29400,
      29401,
    ]],
    [{ ...base, TORCHELASTIC_USE_AGENT_STORE: "True", NANOCHAT_LAUNCHER: "1" }, [
      "nanochat",
      5,
      8,
      1,
      4,
      1,
      2,
    ], [
      "10.0.0.1",
      29400,
      29400,
    ]],
    // a shell loop on one host may give only RANK and WORLD_SIZE
    [{ RANK: "1", WORLD_SIZE: "2" }, ["torchrun", 1, 2, 1, 2, 0, 1], ["127.0.0.1", 29500, 29500]],
    // torchrun inside an srun step: torchrun's variables win
    [{ ...base, SLURM_STEP_ID: "0", SLURM_PROCID: "1", SLURM_NTASKS: "2" }, ["torchrun", 5, 8, 1, 4, 1, 2], [
      "10.0.0.1",
      29400,
      29400,
    ]],
  ];
  for (const [env, want, wantAddr] of cases) {
    const e = readDistEnv(env);
    assertEquals(pick(e), want, JSON.stringify(env));
    assertEquals(addr(e), wantAddr, JSON.stringify(env));
  }
});

Deno.test("SLURM srun tasks", () => {
  const step: Env = {
    SLURM_STEP_ID: "0",
    SLURM_JOB_ID: "123456",
    SLURM_PROCID: "9",
    SLURM_NTASKS: "12",
    SLURM_LOCALID: "1",
    SLURM_NODEID: "2",
    SLURM_NNODES: "3",
    SLURM_TASKS_PER_NODE: "4(x2),4",
    SLURM_JOB_NODELIST: "gpu[07-09]",
  };
  const cases: [Env, unknown[], unknown[]][] = [
    // master: the first host of the node list; port derived from the job id (jobs may share a node)
    [step, ["slurm", 9, 12, 1, 4, 2, 3], ["gpu07", 23456, 23456]],
    [{ ...step, MASTER_ADDR: "head", MASTER_PORT: "4000" }, ["slurm", 9, 12, 1, 4, 2, 3], [
      "head",
      4000,
      4000,
    ]],
    // the step's own lists take precedence over the job's
    [{ ...step, SLURM_STEP_NODELIST: "a[2-4]", SLURM_STEP_TASKS_PER_NODE: "2,2,8" }, [
      "slurm",
      9,
      12,
      1,
      8,
      2,
      3,
    ], [
      "a2",
      23456,
      23456,
    ]],
    [{ ...step, SLURM_JOB_NODELIST: "", SLURM_NODELIST: "x1,x2,x3" }, ["slurm", 9, 12, 1, 4, 2, 3], [
      "x1",
      23456,
      23456,
    ]],
    [{ SLURM_STEPID: "3", SLURM_PROCID: "0", SLURM_NTASKS: "1" }, ["slurm", 0, 1, 0, 1, 0, 1], [
      "127.0.0.1",
      29500,
      29500,
    ]],
  ];
  for (const [env, want, wantAddr] of cases) {
    const e = readDistEnv(env);
    assertEquals(pick(e), want, JSON.stringify(env));
    assertEquals(addr(e), wantAddr, JSON.stringify(env));
  }
});

Deno.test("Open MPI mpirun", () => {
  const mpi: Env = {
    OMPI_COMM_WORLD_RANK: "6",
    OMPI_COMM_WORLD_SIZE: "8",
    OMPI_COMM_WORLD_LOCAL_RANK: "2",
    OMPI_COMM_WORLD_LOCAL_SIZE: "4",
    MASTER_ADDR: "node0",
  };
  assertEquals(pick(readDistEnv(mpi)), ["mpirun", 6, 8, 2, 4, 1, 2]);
  assertEquals(addr(readDistEnv(mpi)), ["node0", 29500, 29500]);
  // mpirun inside a SLURM allocation: mpirun's variables win
  const inSlurm = readDistEnv({ ...mpi, SLURM_STEP_ID: "0", SLURM_PROCID: "0", SLURM_NTASKS: "2" });
  assertEquals(pick(inSlurm), ["mpirun", 6, 8, 2, 4, 1, 2]);
  // one node: MASTER_ADDR may be left out
  const local = { ...mpi, OMPI_COMM_WORLD_LOCAL_SIZE: "8", OMPI_COMM_WORLD_LOCAL_RANK: "6", MASTER_ADDR: "" };
  assertEquals(addr(readDistEnv(local)), ["127.0.0.1", 29500, 29500]);
});

Deno.test("bad environments are clear errors", () => {
  const cases: [Env, string][] = [
    [{ RANK: "2", WORLD_SIZE: "2" }, "rank 2 is not below the world size 2 (torchrun)"],
    [{ RANK: "0" }, "WORLD_SIZE is not set (a torchrun run sets it for every rank)"],
    [{ RANK: "x", WORLD_SIZE: "2" }, 'RANK="x" is not an integer >= 0 (from torchrun)'],
    [{ RANK: "0", WORLD_SIZE: "0" }, 'WORLD_SIZE="0" is not an integer >= 1'],
    [{ RANK: "0", WORLD_SIZE: "2", LOCAL_RANK: "3", LOCAL_WORLD_SIZE: "2" }, "local rank 3 is not below"],
    [
      { RANK: "0", WORLD_SIZE: "4", LOCAL_WORLD_SIZE: "2" },
      "MASTER_ADDR is not set, and this torchrun run spans",
    ],
    [{ RANK: "0", WORLD_SIZE: "1", MASTER_PORT: "70000" }, "MASTER_PORT=70000 is not a TCP port"],
    [
      {
        OMPI_COMM_WORLD_RANK: "0",
        OMPI_COMM_WORLD_SIZE: "4",
        OMPI_COMM_WORLD_LOCAL_RANK: "0",
        OMPI_COMM_WORLD_LOCAL_SIZE: "2",
      },
      "mpirun -x MASTER_ADDR=<first host>",
    ],
    [
      {
        SLURM_STEP_ID: "0",
        SLURM_PROCID: "0",
        SLURM_NTASKS: "4",
        SLURM_NNODES: "2",
        SLURM_TASKS_PER_NODE: "2(x2)",
      },
      "SLURM gave no node list",
    ],
    [
      { SLURM_STEP_ID: "0", SLURM_PROCID: "0", SLURM_NTASKS: "2", SLURM_JOB_NODELIST: "n[1-2" },
      'has a "[" without "]"',
    ],
  ];
  for (const [env, msg] of cases) assertThrows(() => readDistEnv(env), UserError, msg);
});

Deno.test("SLURM node lists expand like scontrol show hostnames", () => {
  const cases: [string, string[]][] = [
    ["node01", ["node01"]],
    ["node[1-3]", ["node1", "node2", "node3"]],
    ["n[08-11]", ["n08", "n09", "n10", "n11"]],
    ["gpu[1,3-4],login", ["gpu1", "gpu3", "gpu4", "login"]],
    ["r[1-2]n[1-2]", ["r1n1", "r1n2", "r2n1", "r2n2"]],
    ["a-[9-10].ib,b", ["a-9.ib", "a-10.ib", "b"]],
    ["host1,host2", ["host1", "host2"]],
  ];
  for (const [list, want] of cases) assertEquals(expandSlurmNodelist(list), want, list);
  for (const bad of ["n[1-2", "n1-2]", "n[3-1]", "n[a-b]", ""]) {
    assertThrows(() => expandSlurmNodelist(bad), UserError);
  }
});

Deno.test("SLURM tasks per node", () => {
  assertEquals(expandSlurmTasksPerNode("4(x2),3"), [4, 4, 3]);
  assertEquals(expandSlurmTasksPerNode("8"), [8]);
  assertThrows(() => expandSlurmTasksPerNode("4x2"), UserError, 'is not like "4(x2),3"');
});
