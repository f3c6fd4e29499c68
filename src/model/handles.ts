// Handle lifetimes of the compute library's objects: explicit free()/destroy(), with a FinalizationRegistry
// as the fallback. A holder is what the registry keeps (never the JS object itself); destroying a holder
// destroys its children first (a model's caches, a context's models), the order the library requires.
// `own` ties a wrapper object to its holder, so that a child can find its parent's holder (holderOf)
// without the wrapper classes exposing it.
import { UserError } from "../common/errors.ts";

/** A native handle, how to destroy it, and the handles that must go first. */
export interface Holder {
  ptr: Deno.PointerObject | null;
  destroy: (p: Deno.PointerObject) => number;
  parent: Holder | null;
  children: Set<Holder>;
}

/** Destroys the holder's children, then its handle; returns the library's status of the last call. */
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

const registry = new FinalizationRegistry<Holder>((h) => {
  try {
    destroyHolder(h);
  } catch { /* nothing to report to from a finalizer */ }
});

const holders = new WeakMap<object, Holder>();

/** A holder for a fresh handle, as a child of `parent` (its wrapper object), or a root. */
export function newHolder(
  ptr: Deno.PointerObject,
  destroy: (p: Deno.PointerObject) => number,
  parent: object | null,
): Holder {
  const p = parent === null ? null : holderOf(parent);
  const h: Holder = { ptr, destroy, parent: p, children: new Set() };
  p?.children.add(h);
  return h;
}

/** Makes `owner` the wrapper of `h`: h is destroyed when owner is collected, unless released first. */
export function own(owner: object, h: Holder): void {
  holders.set(owner, h);
  registry.register(owner, h, h);
}

/**
 * Destroys `h` and stops tracking it; returns the library's status. With `cascade` its children go
 * first (a model frees its caches); without, the library refuses while children live (a context).
 */
export function release(h: Holder, cascade = true): number {
  let status = 0;
  if (cascade) {
    status = destroyHolder(h);
  } else if (h.ptr !== null) {
    status = h.destroy(h.ptr);
    if (status === 0) {
      h.ptr = null;
      h.parent?.children.delete(h);
    }
  }
  if (h.ptr === null) registry.unregister(h);
  return status;
}

/** The holder of a wrapper object made with `own`. */
export function holderOf(owner: object): Holder {
  const h = holders.get(owner);
  if (!h) throw new Error("not a compute-library object");
  return h;
}

/** The live handle, or a UserError when it was freed. */
export function live(h: Holder, what: string): Deno.PointerObject {
  if (h.ptr === null) throw new UserError(`${what} was already freed`);
  return h.ptr;
}
