// The report card's header, as nanochat's report.py writes it at `report reset`: git state, hardware (CPU,
// memory, GPUs read with nvidia-smi when it exists, so no compute library is needed), software, the hourly
// rate of the GPUs (nanochat's Lambda-style prices) and the code's size ("bloat").
import { fileURLToPath } from "node:url";
import { VERSION } from "../version.ts";
import { formatTimestamp } from "./section.ts";

/** nanochat's rough cloud prices in dollars per GPU-hour, matched against the GPU's name; else DEFAULT. */
export const GPU_HOURLY_RATES: readonly [string, number][] = [["H100", 3.0], ["A100", 1.79], ["V100", 0.55]];
export const DEFAULT_GPU_HOURLY_RATE = 2.0;

/** Runs a command with a 5 s limit; its trimmed stdout, or null when it is missing or fails. */
async function run(cmd: string, args: string[], cwd?: string): Promise<string | null> {
  try {
    const out = await new Deno.Command(cmd, {
      args,
      cwd,
      stdout: "piped",
      stderr: "null",
      stdin: "null",
      signal: AbortSignal.timeout(5000),
    }).output();
    return out.success ? new TextDecoder().decode(out.stdout).trim() : null;
  } catch {
    return null;
  }
}

/** The git checkout to describe: this program's source tree when it runs from one, else the working dir. */
export async function sourceRoot(): Promise<string | null> {
  const here = new URL("../../", import.meta.url);
  for (const dir of [here.protocol === "file:" ? fileURLToPath(here) : null, Deno.cwd()]) {
    if (dir === null) continue;
    const top = await run("git", ["rev-parse", "--show-toplevel"], dir);
    if (top) return top;
  }
  return null;
}

export interface GitInfo {
  branch: string;
  commit: string;
  dirty: boolean;
  message: string;
}

async function gitInfo(root: string | null): Promise<GitInfo | null> {
  if (root === null) return null;
  const commit = await run("git", ["rev-parse", "--short", "HEAD"], root);
  if (commit === null) return null;
  const status = await run("git", ["status", "--porcelain"], root);
  return {
    commit,
    branch: await run("git", ["rev-parse", "--abbrev-ref", "HEAD"], root) ?? "unknown",
    dirty: Boolean(status),
    message: ((await run("git", ["log", "-1", "--pretty=%B"], root)) ?? "").split("\n")[0].slice(0, 80),
  };
}

export interface GpuInfo {
  names: string[];
  memoryGb: number[];
  cudaVersion: string;
}

/** GPUs as nvidia-smi reports them, or null when there is no nvidia-smi or no GPU. */
export async function gpuInfo(): Promise<GpuInfo | null> {
  const list = await run("nvidia-smi", ["--query-gpu=name,memory.total", "--format=csv,noheader,nounits"]);
  if (!list) return null;
  const names: string[] = [];
  const memoryGb: number[] = [];
  for (const line of list.split("\n")) {
    const cut = line.lastIndexOf(",");
    if (cut < 0) continue;
    names.push(line.slice(0, cut).trim());
    memoryGb.push(Number(line.slice(cut + 1).trim()) / 1024);
  }
  if (names.length === 0) return null;
  const banner = await run("nvidia-smi", []);
  return { names, memoryGb, cudaVersion: /CUDA Version:\s*([\d.]+)/.exec(banner ?? "")?.[1] ?? "unknown" };
}

/** Dollars per hour for all GPUs together (nanochat's table), or null without GPUs. */
export function hourlyRate(gpus: GpuInfo | null): number | null {
  if (gpus === null) return null;
  const perGpu = GPU_HOURLY_RATES.find(([name]) => gpus.names[0].includes(name))?.[1] ??
    DEFAULT_GPU_HOURLY_RATE;
  return perGpu * gpus.names.length;
}

async function cpuInfo(): Promise<{ model: string; physical: number; logical: number }> {
  const logical = navigator.hardwareConcurrency;
  let text = "";
  try {
    text = await Deno.readTextFile("/proc/cpuinfo");
  } catch { /* not Linux */ }
  const model = /^model name\s*:\s*(.+)$/m.exec(text)?.[1]?.trim() ?? Deno.build.arch;
  const cores = new Set<string>();
  let phys = "0";
  for (const line of text.split("\n")) {
    const m = /^(physical id|core id)\s*:\s*(\d+)/.exec(line);
    if (m?.[1] === "physical id") phys = m[2];
    else if (m) cores.add(`${phys}:${m[2]}`);
  }
  return { model, physical: cores.size || logical, logical };
}

async function computeBackend(): Promise<string> {
  try {
    const { backendName } = await import("../../ffi/compute.ts");
    return backendName();
  } catch (err) {
    return `unavailable (${(err as Error).message.split("\n")[0]})`;
  }
}

/** Files counted as code: sources, scripts, build files and docs (not data, fixtures or lock files). */
const CODE_FILE =
  /(\.(ts|js|css|html|md|rs|toml|sh|py|c|cc|cpp|h|hpp|cu|cuh|cmake)$)|(^|\/)CMakeLists\.txt$|^\.ci\//;

export interface Bloat {
  characters: number;
  lines: number;
  files: number;
  tokens: number;
  lockLines: { file: string; lines: number }[];
}

/** The code's size from `git ls-files` (characters, lines, files, ~tokens as chars/4) and lock file lines. */
export async function measureBloat(root: string): Promise<Bloat | null> {
  const listed = await run("git", ["ls-files"], root);
  if (listed === null) return null;
  let characters = 0, lines = 0, files = 0;
  for (const path of listed.split("\n")) {
    if (!CODE_FILE.test(path)) continue;
    let text: string;
    try {
      text = await Deno.readTextFile(`${root}/${path}`);
    } catch {
      continue; // deleted in the work tree
    }
    characters += text.length;
    lines += text.split("\n").length;
    files++;
  }
  const lockLines: { file: string; lines: number }[] = [];
  for (const file of ["deno.lock", "ffi/bpe/Cargo.lock"]) {
    try {
      lockLines.push({ file, lines: (await Deno.readTextFile(`${root}/${file}`)).split("\n").length - 1 });
    } catch { /* no such lock file */ }
  }
  return { characters, lines, files, tokens: Math.floor(characters / 4), lockLines };
}

const int = (n: number) => n.toLocaleString("en-US");

/** The header's markdown, ending with "Run started: <now>" and a rule, as `report reset` writes it. */
export async function generateHeader(now = new Date()): Promise<string> {
  const root = await sourceRoot();
  const [git, gpus, cpu, backend, bloat] = await Promise.all([
    gitInfo(root),
    gpuInfo(),
    cpuInfo(),
    computeBackend(),
    root === null ? null : measureBloat(root),
  ]);
  const memGb = Deno.systemMemoryInfo().total / 1024 ** 3;
  const out = [
    `# nanochat training report`,
    ``,
    `Generated: ${formatTimestamp(now)}`,
    ``,
    `## Environment`,
    ``,
  ];
  out.push(`### Git Information`);
  if (git) {
    out.push(
      `- Branch: ${git.branch}`,
      `- Commit: ${git.commit} ${git.dirty ? "(dirty)" : "(clean)"}`,
      `- Message: ${git.message}`,
    );
  } else out.push(`- Commit: unknown (not run from a git checkout)`);
  out.push(
    ``,
    `### Hardware`,
    `- Platform: ${Deno.build.os} (${Deno.build.arch})`,
    `- CPU: ${cpu.model}`,
    `- CPUs: ${cpu.physical} cores (${cpu.logical} logical)`,
    `- Memory: ${memGb.toFixed(1)} GB`,
  );
  const rate = hourlyRate(gpus);
  if (gpus) {
    out.push(
      `- GPUs: ${gpus.names.length}x ${[...new Set(gpus.names)].join(", ")}`,
      `- GPU Memory: ${gpus.memoryGb.reduce((a, b) => a + b, 0).toFixed(1)} GB total`,
      `- CUDA Version: ${gpus.cudaVersion}`,
      `- Hourly Rate: $${rate!.toFixed(2)}/hour`,
    );
  } else {
    out.push(`- GPUs: None available`, `- Hourly Rate: none (CPU only)`);
  }
  out.push(
    ``,
    `### Software`,
    `- Deno: ${Deno.version.deno} (V8 ${Deno.version.v8}, TypeScript ${Deno.version.typescript})`,
    `- nanochat: ${VERSION}`,
    `- Compute backend: ${backend}`,
    ``,
    `### Bloat`,
  );
  if (bloat) {
    out.push(
      `- Characters: ${int(bloat.characters)}`,
      `- Lines: ${int(bloat.lines)}`,
      `- Files: ${int(bloat.files)}`,
      `- Tokens (approx): ${int(bloat.tokens)}`,
      ...bloat.lockLines.map((l) => `- Dependencies (${l.file} lines): ${int(l.lines)}`),
    );
  } else out.push(`- unknown (not run from a git checkout)`);
  out.push(``, `Run started: ${formatTimestamp(now)}`, ``, `---`, ``, ``);
  return out.join("\n");
}
