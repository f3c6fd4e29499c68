// Public surface of the distributed-launch module: the rank's environment, our launcher, the rendezvous
// that hands out the communicator id, and rank-aware logging.
export { DEFAULT_MASTER_PORT, type DistEnv, type Launcher, readDistEnv, single } from "./env.ts";
export { expandSlurmNodelist, expandSlurmTasksPerNode } from "./slurm.ts";
export {
  launch,
  LAUNCH_FLAGS_HELP,
  type LaunchOptions,
  type LaunchSpec,
  maybeLaunch,
  parseLaunchFlags,
  selfCommand,
} from "./launch.ts";
export { rendezvous, RENDEZVOUS_TIMEOUT_MS, type RendezvousOptions, UNIQUE_ID_BYTES } from "./rendezvous.ts";
export { print0, printRank, rankPrefix } from "./log.ts";
