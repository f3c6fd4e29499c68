// The CORE eval bundle, laid out as nanochat's: core.yaml (icl_tasks: label, dataset_uri, num_fewshot,
// icl_task_type, continuation_delimiter), eval_meta_data.csv ("Eval Task", "Random baseline" in percent)
// and eval_data/<dataset_uri> (JSON lines). It lives in <base>/eval_bundle; when missing it is downloaded
// from nanochat's address as eval_bundle.zip (resumable, verified) and unpacked into place atomically.
import { join } from "node:path";
import { unzipSync } from "fflate";
import { parse as parseYaml } from "yaml";
import { UserError } from "../common/errors.ts";
import { exists, withFileLock } from "../common/fs.ts";
import { downloadOneFile } from "../data/download.ts";

/** nanochat's bundle address; $NANOCHAT_EVAL_BUNDLE_URL overrides it (mirrors, tests). */
export const EVAL_BUNDLE_URL = "https://karpathy-public.s3.us-west-2.amazonaws.com/eval_bundle.zip";
export const EVAL_BUNDLE_URL_ENV = "NANOCHAT_EVAL_BUNDLE_URL";

/** The 22 CORE tasks of the DCLM paper, so a smaller bundle can say which are missing. */
export const CORE_TASK_LABELS = [
  "hellaswag_zeroshot",
  "jeopardy",
  "bigbench_qa_wikidata",
  "arc_easy",
  "arc_challenge",
  "copa",
  "commonsense_qa",
  "piqa",
  "openbook_qa",
  "lambada_openai",
  "hellaswag",
  "winograd",
  "winogrande",
  "bigbench_dyck_languages",
  "agi_eval_lsat_ar",
  "bigbench_cs_algorithms",
  "bigbench_operators",
  "bigbench_repeat_copy_logic",
  "squad",
  "coqa",
  "boolq",
  "bigbench_language_identification",
] as const;

export type CoreTaskType = "multiple_choice" | "schema" | "language_modeling";

/** One task of core.yaml with its random baseline from eval_meta_data.csv. */
export interface CoreTaskSpec {
  label: string;
  taskType: CoreTaskType;
  datasetUri: string;
  numFewshot: number;
  continuationDelimiter: string;
  /** Percent, as the CSV gives it. */
  randomBaseline: number;
}

/** A bundle folder and its task list. */
export interface CoreBundle {
  dir: string;
  tasks: CoreTaskSpec[];
}

const TYPES: readonly string[] = ["multiple_choice", "schema", "language_modeling"];

/** Opens (and validates) the bundle in `dir`; every problem is a UserError naming the file. */
export async function openBundle(dir: string): Promise<CoreBundle> {
  const corrupt = (what: string) =>
    new UserError(
      `the CORE eval bundle in ${dir} is incomplete or corrupt: ${what}; delete it to download it again, or pass --eval-bundle DIR`,
    );
  let yamlText: string;
  let csvText: string;
  try {
    yamlText = await Deno.readTextFile(join(dir, "core.yaml"));
    csvText = await Deno.readTextFile(join(dir, "eval_meta_data.csv"));
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) throw corrupt("core.yaml or eval_meta_data.csv is missing");
    throw err;
  }
  let config: unknown;
  try {
    config = parseYaml(yamlText);
  } catch (err) {
    throw corrupt(`core.yaml does not parse (${(err as Error).message.split("\n")[0]})`);
  }
  const list = (config as { icl_tasks?: unknown })?.icl_tasks;
  if (!Array.isArray(list) || list.length === 0) throw corrupt("core.yaml has no icl_tasks list");
  const baselines = randomBaselines(csvText, corrupt);
  const tasks: CoreTaskSpec[] = [];
  for (const [i, t] of list.entries()) {
    const label = t?.label;
    const shots = Array.isArray(t?.num_fewshot) ? t.num_fewshot[0] : t?.num_fewshot;
    if (typeof label !== "string" || typeof t.dataset_uri !== "string" || !TYPES.includes(t.icl_task_type)) {
      throw corrupt(
        `icl_tasks[${i}] needs label, dataset_uri and icl_task_type (one of ${TYPES.join(", ")})`,
      );
    }
    if (!Number.isInteger(shots) || shots < 0) throw corrupt(`${label}: num_fewshot must be a whole number`);
    const delim = t.continuation_delimiter ?? " ";
    if (typeof delim !== "string") throw corrupt(`${label}: continuation_delimiter must be a string`);
    const baseline = baselines.get(label);
    if (baseline === undefined) throw corrupt(`eval_meta_data.csv has no "Random baseline" for ${label}`);
    if (!(await exists(join(dir, "eval_data", t.dataset_uri)))) {
      throw corrupt(`eval_data/${t.dataset_uri} is missing`);
    }
    tasks.push({
      label,
      taskType: t.icl_task_type,
      datasetUri: t.dataset_uri,
      numFewshot: shots,
      continuationDelimiter: delim,
      randomBaseline: baseline,
    });
  }
  return { dir, tasks };
}

/** Reads one task's rows (one JSON object per line). */
export async function readTaskData(
  bundle: CoreBundle,
  task: CoreTaskSpec,
): Promise<Record<string, unknown>[]> {
  const path = join(bundle.dir, "eval_data", task.datasetUri);
  const rows: Record<string, unknown>[] = [];
  (await Deno.readTextFile(path)).split("\n").forEach((line, i) => {
    if (!line.trim()) return;
    try {
      rows.push(JSON.parse(line));
    } catch {
      throw new UserError(
        `${path} line ${i + 1} is not valid JSON: the bundle is corrupt, delete it to download it again`,
      );
    }
  });
  return rows;
}

/** Label -> "Random baseline" from eval_meta_data.csv (RFC 4180 quoting, as pandas reads it). */
function randomBaselines(text: string, corrupt: (what: string) => Error): Map<string, number> {
  const rows = parseCsv(text);
  const header = rows[0] ?? [];
  const task = header.indexOf("Eval Task");
  const base = header.indexOf("Random baseline");
  if (task < 0 || base < 0) {
    throw corrupt('eval_meta_data.csv needs "Eval Task" and "Random baseline" columns');
  }
  const out = new Map<string, number>();
  for (const r of rows.slice(1)) {
    const v = Number(r[base]);
    if (r[task] && r[base] !== undefined && r[base] !== "" && Number.isFinite(v)) out.set(r[task], v);
  }
  return out;
}

/** Minimal RFC 4180 CSV: quoted fields may hold commas, newlines and doubled quotes. */
export function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ",") {
      row.push(field);
      field = "";
    } else if (c === "\n" || c === "\r") {
      if (c === "\r" && text[i + 1] === "\n") i++;
      row.push(field);
      rows.push(row);
      row = [];
      field = "";
    } else field += c;
  }
  if (field !== "" || row.length > 0) rows.push([...row, field]);
  return rows;
}

/**
 * The bundle to use: `override` (must exist), else <base>/eval_bundle, downloading and unpacking
 * nanochat's eval_bundle.zip there first when it is missing.
 */
export async function resolveBundle(baseDir: string, override?: string, quiet = false): Promise<CoreBundle> {
  if (override) {
    if (!(await exists(override))) throw new UserError(`--eval-bundle ${override} does not exist`);
    return openBundle(override);
  }
  const dir = join(baseDir, "eval_bundle");
  if (!(await exists(dir))) {
    // several processes (the ranks of a data-parallel run) may ask at once: one downloads and unpacks
    // under an exclusive lock, the others wait for it and find the bundle in place
    await Deno.mkdir(baseDir, { recursive: true });
    await withFileLock(join(baseDir, "eval_bundle.lock"), async () => {
      if (!(await exists(dir))) await downloadBundle(baseDir, quiet);
    });
  }
  return openBundle(dir);
}

async function downloadBundle(baseDir: string, quiet: boolean): Promise<void> {
  const url = Deno.env.get(EVAL_BUNDLE_URL_ENV) || EVAL_BUNDLE_URL;
  const zipPath = join(baseDir, "eval_bundle.zip");
  await Deno.mkdir(baseDir, { recursive: true });
  if (!(await exists(zipPath))) {
    try {
      await downloadOneFile(url, zipPath, { verify: ZIP_CHECK, quiet, label: "eval_bundle.zip" });
    } catch (err) {
      throw new UserError(
        `could not download the CORE eval bundle from ${url} (${
          (err as Error).message
        }): check the network, ` +
          `or pass --eval-bundle DIR (an offline copy is in shared/data/eval_bundle)`,
      );
    }
  }
  let files: Record<string, Uint8Array>;
  try {
    files = unzipSync(await Deno.readFile(zipPath));
  } catch (err) {
    await Deno.remove(zipPath).catch(() => {});
    throw new UserError(
      `${zipPath} is not a valid zip (${(err as Error).message}); it was removed, run again to re-download`,
    );
  }
  // unpack beside the target, then move the bundle folder into place in one rename
  const tmp = await Deno.makeTempDir({ dir: baseDir, prefix: "eval_bundle.tmp-" });
  try {
    for (const [name, data] of Object.entries(files)) {
      if (name.endsWith("/") || name.split("/").includes("..") || name.startsWith("/")) continue;
      const path = join(tmp, name);
      await Deno.mkdir(join(path, ".."), { recursive: true });
      await Deno.writeFile(path, data);
    }
    const inner = join(tmp, "eval_bundle");
    if (!(await exists(join(inner, "core.yaml")))) {
      throw new UserError(`${zipPath} has no eval_bundle/core.yaml: it is not nanochat's eval bundle`);
    }
    await Deno.rename(inner, join(baseDir, "eval_bundle"));
  } finally {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
  }
}

const ZIP_CHECK = {
  expected: "a zip file",
  isComplete: async (path: string) => {
    const f = await Deno.open(path);
    try {
      const head = new Uint8Array(4);
      const n = await f.read(head);
      return n === 4 && head[0] === 0x50 && head[1] === 0x4b && head[2] === 0x03 && head[3] === 0x04;
    } finally {
      f.close();
    }
  },
};
