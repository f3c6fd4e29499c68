// SLURM's compact list syntaxes: host lists ("gpu[01-04,07],login1") and tasks per node ("4(x2),3").
import { UserError } from "../common/errors.ts";

/**
 * Expands a SLURM host list into host names, in order. Commas outside brackets separate names; a bracket
 * holds comma-separated numbers or ranges, and keeps their zero padding ("n[08-10]" → n08, n09, n10);
 * several brackets in one name multiply ("r[1-2]n[1-2]" → r1n1, r1n2, r2n1, r2n2).
 */
export function expandSlurmNodelist(list: string): string[] {
  const out: string[] = [];
  for (const name of splitOutsideBrackets(list.trim())) {
    if (name === "") continue;
    out.push(...expandName(name, list));
  }
  if (out.length === 0) throw new UserError(`SLURM node list "${list}" names no host`);
  return out;
}

/** Expands SLURM_TASKS_PER_NODE ("4(x2),3" → [4, 4, 3]): tasks on each node of the step, in node order. */
export function expandSlurmTasksPerNode(spec: string): number[] {
  const out: number[] = [];
  for (const part of spec.split(",")) {
    const m = /^(\d+)(?:\(x(\d+)\))?$/.exec(part.trim());
    if (!m) throw new UserError(`SLURM tasks-per-node "${spec}" is not like "4(x2),3"`);
    for (let i = 0; i < Number(m[2] ?? 1); i++) out.push(Number(m[1]));
  }
  return out;
}

function splitOutsideBrackets(s: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let cur = "";
  for (const ch of s) {
    if (ch === "[") depth++;
    if (ch === "]") depth--;
    if (depth < 0) throw new UserError(`SLURM node list "${s}" has a "]" without "["`);
    if (ch === "," && depth === 0) {
      parts.push(cur);
      cur = "";
    } else {
      cur += ch;
    }
  }
  if (depth !== 0) throw new UserError(`SLURM node list "${s}" has a "[" without "]"`);
  parts.push(cur);
  return parts;
}

function expandName(name: string, whole: string): string[] {
  const open = name.indexOf("[");
  if (open < 0) return [name];
  const close = name.indexOf("]", open);
  const prefix = name.slice(0, open);
  const rest = expandName(name.slice(close + 1), whole);
  const out: string[] = [];
  for (const item of name.slice(open + 1, close).split(",")) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(item);
    if (!m) throw new UserError(`SLURM node list "${whole}" has a bad range "${item}" in "${name}"`);
    const lo = Number(m[1]);
    const hi = Number(m[2] ?? m[1]);
    if (hi < lo) throw new UserError(`SLURM node list "${whole}" has a descending range "${item}"`);
    const width = m[1].length;
    for (let n = lo; n <= hi; n++) {
      for (const tail of rest) out.push(prefix + String(n).padStart(width, "0") + tail);
    }
  }
  return out;
}
