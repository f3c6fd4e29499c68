// Opens the Rust BPE library once per process and offers safe helpers around its raw C calls.
import { openLibrary } from "./loader.ts";
import { type BpeSymbols, bpeSymbols } from "./bpe_symbols.ts";
import { UserError } from "../src/common/errors.ts";

let cached: BpeSymbols | undefined;

/** The BPE library's symbols (opened on first use). */
export function bpe(): BpeSymbols {
  cached ??= openLibrary({
    stem: "nanochat_bpe",
    envVar: "NANOCHAT_BPE_LIB",
    builtUrl: new URL(`./bpe/target/release/${libFile()}`, import.meta.url),
    buildHint: "deno task build",
  }, bpeSymbols).symbols;
  return cached;
}

function libFile(): string {
  return Deno.build.os === "darwin"
    ? "libnanochat_bpe.dylib"
    : Deno.build.os === "windows"
    ? "nanochat_bpe.dll"
    : "libnanochat_bpe.so";
}

/** The library's last error message. */
export function lastError(): string {
  const p = bpe().bpe_last_error();
  return p === null ? "" : Deno.UnsafePointerView.getCString(p);
}

/** Throws a UserError with the library's message when `status` is nonzero. */
export function check(status: number, what: string): void {
  if (status !== 0) throw new UserError(`${what}: ${lastError() || `error code ${status}`}`);
}

const utf8 = new TextEncoder();

/** UTF-8 bytes of `s` and their length; the buffer is never empty (FFI may pass an empty one as null). */
export function cbytes(s: string | Uint8Array): { buf: Uint8Array<ArrayBuffer>; len: bigint } {
  const bytes = typeof s === "string" ? utf8.encode(s) : s;
  if (bytes.length > 0) return { buf: bytes as Uint8Array<ArrayBuffer>, len: BigInt(bytes.length) };
  return { buf: new Uint8Array(1), len: 0n };
}

/** A one-slot out parameter for a pointer or size written by the library. */
export function outSlot(): BigUint64Array<ArrayBuffer> {
  return new BigUint64Array(1);
}

/** Copies `len` u32 values out of library memory, then frees it. */
export function takeU32(ptrSlot: BigUint64Array, lenSlot: BigUint64Array): Uint32Array {
  const len = Number(lenSlot[0]);
  const ptr = Deno.UnsafePointer.create(ptrSlot[0]);
  if (len === 0 || ptr === null) {
    if (ptr !== null) bpe().bpe_free_u32(ptr, 0n);
    return new Uint32Array(0);
  }
  const out = new Uint32Array(len);
  out.set(new Uint32Array(Deno.UnsafePointerView.getArrayBuffer(ptr, len * 4)));
  bpe().bpe_free_u32(ptr, BigInt(len));
  return out;
}

/** Copies `len` u64 values out of library memory, then frees it. */
export function takeU64(ptrSlot: BigUint64Array, len: number): BigUint64Array {
  const ptr = Deno.UnsafePointer.create(ptrSlot[0]);
  if (ptr === null) return new BigUint64Array(0);
  const out = new BigUint64Array(len);
  out.set(new BigUint64Array(Deno.UnsafePointerView.getArrayBuffer(ptr, len * 8)));
  bpe().bpe_free_u64(ptr, BigInt(len));
  return out;
}

/** Copies bytes out of library memory, then frees it. */
export function takeBytes(ptrSlot: BigUint64Array, lenSlot: BigUint64Array): Uint8Array {
  const len = Number(lenSlot[0]);
  const ptr = Deno.UnsafePointer.create(ptrSlot[0]);
  if (ptr === null) return new Uint8Array(0);
  const out = new Uint8Array(len);
  if (len > 0) out.set(new Uint8Array(Deno.UnsafePointerView.getArrayBuffer(ptr, len)));
  bpe().bpe_free_bytes(ptr, BigInt(len));
  return out;
}

/** Packs texts as one UTF-8 buffer plus n+1 byte offsets, the layout the batch calls take. */
export function packTexts(
  texts: readonly string[],
): { data: Uint8Array<ArrayBuffer>; offsets: BigUint64Array<ArrayBuffer> } {
  const parts = texts.map((t) => utf8.encode(t));
  const offsets = new BigUint64Array(texts.length + 1);
  let total = 0;
  for (let i = 0; i < parts.length; i++) {
    offsets[i] = BigInt(total);
    total += parts[i].length;
  }
  offsets[parts.length] = BigInt(total);
  // never hand a zero-length buffer to FFI: some platforms give it a null pointer
  const data = new Uint8Array(Math.max(total, 1));
  let at = 0;
  for (const p of parts) {
    data.set(p, at);
    at += p.length;
  }
  return { data, offsets };
}

/** Throws unless a handle pointer was produced. */
export function handleFrom(slot: BigUint64Array, what: string): Deno.PointerObject {
  const p = Deno.UnsafePointer.create(slot[0]);
  if (p === null) throw new UserError(`${what}: the library returned no handle`);
  return p;
}
