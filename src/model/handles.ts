// Handle lifetimes of the compute library's objects: explicit free()/destroy(), with a FinalizationRegistry
// as the fallback. A holder is what the registry keeps (never the JS object itself); destroying a holder
// destroys its children first (a model's caches, a context's models), the order the library requires.
import { UserError } from "../common/errors.ts";

export interface Holder {
  ptr: Deno.PointerObject | null;
  destroy: (p: Deno.PointerObject) => number;
  parent: Holder | null;
  children: Set<Holder>;
}

export function destroyHolder(h: Holder): number {
  for (const c of [...h.children]) destroyHolder(c);
  let status = 0;
  if (h.ptr !== null) {
    status = h.destroy(h.ptr);
    if (status === 0) h.ptr = null;
  }
  if (h.ptr === null) h.parent?.children.delete(h);
  return status;
}

export const registry = new FinalizationRegistry<Holder>((h) => {
  try {
    destroyHolder(h);
  } catch { /* nothing to report to from a finalizer */ }
});

export function newHolder(
  ptr: Deno.PointerObject,
  destroy: (p: Deno.PointerObject) => number,
  parent: Holder | null,
): Holder {
  const h: Holder = { ptr, destroy, parent, children: new Set() };
  parent?.children.add(h);
  return h;
}

export function live(h: Holder, what: string): Deno.PointerObject {
  if (h.ptr === null) throw new UserError(`${what} was already freed`);
  return h.ptr;
}
