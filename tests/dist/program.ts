// A tiny program for the launcher tests: run with launcher flags it relaunches itself through
// maybeLaunch (as the CLI will); each child then does what its first argument says:
//   env              print its rank environment as one JSON line and exit 0
//   exit R C         rank R exits with code C; the others wait to be stopped (at most a minute)
//   kill R           rank R kills itself with SIGKILL; the others wait to be stopped (at most a minute)
//   signals          print "ready R", then on SIGINT/SIGTERM print "rank R got SIG" and exit 0
import { maybeLaunch, readDistEnv } from "../../src/dist/mod.ts";
import { UserError } from "../../src/common/errors.ts";

try {
  const launched = await maybeLaunch(Deno.args);
  if (launched !== null) Deno.exit(launched);
} catch (err) {
  if (!(err instanceof UserError)) throw err;
  console.error(`error: ${err.message}`);
  Deno.exit(1);
}

const env = readDistEnv(Deno.env.toObject());
const [mode, ...rest] = Deno.args;
// Children waiting to be stopped give up after a minute, so a broken launcher cannot leave them behind.
const waitForever = () => new Promise<never>(() => setTimeout(() => Deno.exit(4), 60_000));

if (mode === "env") {
  const keep = [
    "RANK",
    "WORLD_SIZE",
    "LOCAL_RANK",
    "LOCAL_WORLD_SIZE",
    "GROUP_RANK",
    "MASTER_ADDR",
    "MASTER_PORT",
  ];
  const vars = Object.fromEntries(keep.map((k) => [k, Deno.env.get(k)]));
  console.log(JSON.stringify({ env, vars, args: rest }));
} else if (mode === "exit") {
  if (env.rank === Number(rest[0])) Deno.exit(Number(rest[1]));
  await waitForever();
} else if (mode === "kill") {
  if (env.rank === Number(rest[0])) Deno.kill(Deno.pid, "SIGKILL");
  await waitForever();
} else if (mode === "signals") {
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    Deno.addSignalListener(sig, () => {
      console.log(`rank ${env.rank} got ${sig}`);
      Deno.exit(0);
    });
  }
  console.log(`ready ${env.rank}`);
  await waitForever();
} else {
  console.error(`program.ts: unknown mode ${mode}`);
  Deno.exit(2);
}
