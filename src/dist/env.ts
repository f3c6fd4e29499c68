// Which rank this process is, read from the environment of whatever started it: our own launcher or
// torchrun (RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT), SLURM's srun
// (SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID, the node list) or Open MPI's mpirun (OMPI_COMM_WORLD_*).
// When several are present the most specific wins: torchrun's variables (a torchrun or our launcher
// inside an srun step), then mpirun's, then SLURM's.
import { UserError } from "../common/errors.ts";
import { expandSlurmNodelist, expandSlurmTasksPerNode } from "./slurm.ts";

/** What started this process. "none": a plain single-process run. */
export type Launcher = "none" | "nanochat" | "torchrun" | "slurm" | "mpirun";

/** This process's place in a data-parallel run. */
export interface DistEnv {
  launcher: Launcher;
  rank: number;
  worldSize: number;
  /** Rank among the processes of this node (which device to use). */
  localRank: number;
  localWorldSize: number;
  nodeRank: number;
  numNodes: number;
  /** Host of rank 0, as every rank can reach it. */
  masterAddr: string;
  masterPort: number;
  /**
   * Port our rendezvous uses on masterAddr: masterPort, except under torchrun's agent store
   * (TORCHELASTIC_USE_AGENT_STORE=True), where torchrun's own store already holds masterPort and we use
   * the next port.
   */
  rendezvousPort: number;
}

/** Default MASTER_PORT, as torchrun's. */
export const DEFAULT_MASTER_PORT = 29500;

type Env = Record<string, string | undefined>;

/** Reads the DistEnv from `env` (e.g. `Deno.env.toObject()`); throws a UserError naming a bad variable. */
export function readDistEnv(raw: Env): DistEnv {
  // An empty variable counts as unset (scripts often export VAR= to clear one).
  const env: Env = Object.fromEntries(Object.entries(raw).filter(([, v]) => v !== undefined && v !== ""));
  if (env.RANK !== undefined || env.WORLD_SIZE !== undefined) return fromTorchrun(env);
  if (env.OMPI_COMM_WORLD_RANK !== undefined) return fromMpirun(env);
  // An sbatch script itself has SLURM_PROCID/SLURM_NTASKS but no step: only srun's tasks are ranks.
  if (env.SLURM_PROCID !== undefined && (env.SLURM_STEP_ID ?? env.SLURM_STEPID) !== undefined) {
    return fromSlurm(env);
  }
  return single();
}

/** The environment of a plain, single-process run. */
export function single(): DistEnv {
  return {
    launcher: "none",
    rank: 0,
    worldSize: 1,
    localRank: 0,
    localWorldSize: 1,
    nodeRank: 0,
    numNodes: 1,
    masterAddr: "127.0.0.1",
    masterPort: DEFAULT_MASTER_PORT,
    rendezvousPort: DEFAULT_MASTER_PORT,
  };
}

function fromTorchrun(env: Env): DistEnv {
  const who = env.NANOCHAT_LAUNCHER === "1" ? "nanochat" : "torchrun";
  const rank = intVar(env, "RANK", who);
  const worldSize = intVar(env, "WORLD_SIZE", who, 1);
  const localRank = env.LOCAL_RANK === undefined ? rank : intVar(env, "LOCAL_RANK", who);
  const localWorldSize = env.LOCAL_WORLD_SIZE === undefined
    ? worldSize
    : intVar(env, "LOCAL_WORLD_SIZE", who, 1);
  const nodeRank = env.GROUP_RANK === undefined
    ? Math.floor(rank / localWorldSize)
    : intVar(env, "GROUP_RANK", who);
  const numNodes = env.GROUP_WORLD_SIZE === undefined
    ? Math.ceil(worldSize / localWorldSize)
    : intVar(env, "GROUP_WORLD_SIZE", who, 1);
  const masterPort = portVar(env, "MASTER_PORT", who) ?? DEFAULT_MASTER_PORT;
  return check({
    launcher: who,
    rank,
    worldSize,
    localRank,
    localWorldSize,
    nodeRank,
    numNodes,
    masterAddr: masterAddr(env, worldSize, localWorldSize, who, "MASTER_ADDR=<rank 0's host>"),
    masterPort,
    // (our launcher's children may inherit the variable from an outer torchrun; our launcher holds no store)
    rendezvousPort: who === "torchrun" && env.TORCHELASTIC_USE_AGENT_STORE === "True"
      ? masterPort + 1
      : masterPort,
  });
}

function fromMpirun(env: Env): DistEnv {
  const who = "mpirun";
  const rank = intVar(env, "OMPI_COMM_WORLD_RANK", who);
  const worldSize = intVar(env, "OMPI_COMM_WORLD_SIZE", who, 1);
  const localRank = intVar(env, "OMPI_COMM_WORLD_LOCAL_RANK", who);
  const localWorldSize = intVar(env, "OMPI_COMM_WORLD_LOCAL_SIZE", who, 1);
  const masterPort = portVar(env, "MASTER_PORT", who) ?? DEFAULT_MASTER_PORT;
  return check({
    launcher: who,
    rank,
    worldSize,
    localRank,
    localWorldSize,
    // mpirun's default mapping fills each node's slots in turn, so node = rank / ranks-per-node.
    nodeRank: Math.floor(rank / localWorldSize),
    numNodes: Math.ceil(worldSize / localWorldSize),
    masterAddr: masterAddr(env, worldSize, localWorldSize, who, "mpirun -x MASTER_ADDR=<first host>"),
    masterPort,
    rendezvousPort: masterPort,
  });
}

function fromSlurm(env: Env): DistEnv {
  const who = "slurm";
  const rank = intVar(env, "SLURM_PROCID", who);
  const worldSize = intVar(env, "SLURM_NTASKS", who, 1);
  const localRank = env.SLURM_LOCALID === undefined ? 0 : intVar(env, "SLURM_LOCALID", who);
  const nodeRank = env.SLURM_NODEID === undefined ? 0 : intVar(env, "SLURM_NODEID", who);
  const numNodes = env.SLURM_NNODES === undefined ? 1 : intVar(env, "SLURM_NNODES", who, 1);
  const perNodeSpec = env.SLURM_STEP_TASKS_PER_NODE ?? env.SLURM_TASKS_PER_NODE;
  const perNode = perNodeSpec === undefined ? [worldSize] : expandSlurmTasksPerNode(perNodeSpec);
  const localWorldSize = perNode[nodeRank] ?? perNode[perNode.length - 1];
  const list = env.SLURM_STEP_NODELIST ?? env.SLURM_JOB_NODELIST ?? env.SLURM_NODELIST;
  let master = env.MASTER_ADDR;
  if (!master) {
    if (list === undefined && numNodes > 1) {
      throw new UserError(
        "SLURM gave no node list (SLURM_JOB_NODELIST) to find rank 0's host: set MASTER_ADDR",
      );
    }
    master = list === undefined ? "127.0.0.1" : expandSlurmNodelist(list)[0];
  }
  // Two jobs may share a node: without MASTER_PORT, derive the port from the job id.
  const jobId = env.SLURM_JOB_ID === undefined ? NaN : Number(env.SLURM_JOB_ID);
  const masterPort = portVar(env, "MASTER_PORT", who) ??
    (Number.isInteger(jobId) ? 20000 + (jobId % 20000) : DEFAULT_MASTER_PORT);
  return check({
    launcher: who,
    rank,
    worldSize,
    localRank,
    localWorldSize,
    nodeRank,
    numNodes,
    masterAddr: master,
    masterPort,
    rendezvousPort: masterPort,
  });
}

function masterAddr(env: Env, worldSize: number, localWorldSize: number, who: string, hint: string): string {
  if (env.MASTER_ADDR) return env.MASTER_ADDR;
  if (worldSize > localWorldSize) {
    throw new UserError(`MASTER_ADDR is not set, and this ${who} run spans several nodes: set ${hint}`);
  }
  return "127.0.0.1";
}

function intVar(env: Env, name: string, who: string, min = 0): number {
  const raw = env[name];
  if (raw === undefined) throw new UserError(`${name} is not set (a ${who} run sets it for every rank)`);
  const n = Number(raw);
  if (!/^\s*\d+\s*$/.test(raw) || !Number.isSafeInteger(n) || n < min) {
    throw new UserError(`${name}=${JSON.stringify(raw)} is not an integer >= ${min} (from ${who})`);
  }
  return n;
}

function portVar(env: Env, name: string, who: string): number | undefined {
  if (env[name] === undefined) return undefined;
  const p = intVar(env, name, who, 1);
  if (p > 65535) throw new UserError(`${name}=${p} is not a TCP port (1..65535)`);
  return p;
}

function check(e: DistEnv): DistEnv {
  const src = e.launcher;
  if (e.rank >= e.worldSize) {
    throw new UserError(`rank ${e.rank} is not below the world size ${e.worldSize} (${src})`);
  }
  if (e.localRank >= e.localWorldSize) {
    throw new UserError(
      `local rank ${e.localRank} is not below the local world size ${e.localWorldSize} (${src})`,
    );
  }
  if (e.localWorldSize > e.worldSize) {
    throw new UserError(
      `local world size ${e.localWorldSize} exceeds the world size ${e.worldSize} (${src})`,
    );
  }
  if (e.rendezvousPort > 65535) {
    throw new UserError(
      `MASTER_PORT ${e.masterPort} leaves no port for the rendezvous next to torchrun's store`,
    );
  }
  if (e.nodeRank >= e.numNodes) {
    throw new UserError(`node rank ${e.nodeRank} is not below the number of nodes ${e.numNodes} (${src})`);
  }
  return e;
}
