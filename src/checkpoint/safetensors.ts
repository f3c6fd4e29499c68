// The safetensors format (what Python's `safetensors` reads and writes), streamed tensor by tensor:
//   [u64 little-endian N][N bytes JSON header, space-padded to a multiple of 8][raw little-endian tensor data]
// The header maps each tensor name to {dtype, shape, data_offsets: [begin, end]} (offsets relative to the data
// section), plus an optional "__metadata__": {string: string}.
import { UserError } from "../common/errors.ts";

export type DType =
  | "F64"
  | "F32"
  | "F16"
  | "BF16"
  | "I64"
  | "I32"
  | "I16"
  | "I8"
  | "U64"
  | "U32"
  | "U16"
  | "U8"
  | "BOOL"
  | "F8_E4M3"
  | "F8_E5M2";

/** Bytes per element of each dtype. */
export const DTYPE_SIZE: Readonly<Record<DType, number>> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U64: 8,
  U32: 4,
  U16: 2,
  U8: 1,
  BOOL: 1,
  F8_E4M3: 1,
  F8_E5M2: 1,
};

export type TensorData =
  | Float64Array
  | Float32Array
  | BigInt64Array
  | BigUint64Array
  | Int32Array
  | Uint32Array
  | Int16Array
  | Uint16Array
  | Int8Array
  | Uint8Array;

/** A named tensor. `dtype` defaults from the array type (Float32Array → F32, Uint16Array → U16, ...); set it
 *  for BF16/F16 (Uint16Array bits), BOOL or F8 (Uint8Array). */
export interface NamedTensor {
  name: string;
  shape: number[];
  data: TensorData;
  dtype?: DType;
}

/** A tensor read back: dtype always set. */
export interface Tensor {
  name: string;
  dtype: DType;
  shape: number[];
  data: TensorData;
}

/** One header entry, with offsets relative to the data section. */
export interface HeaderEntry {
  name: string;
  dtype: DType;
  shape: number[];
  begin: number;
  end: number;
}

export interface SafetensorsHeader {
  /** Entries in data order (sorted by begin offset). */
  entries: HeaderEntry[];
  metadata: Record<string, string>;
  /** Absolute file offset where the data section starts (8 + N). */
  dataStart: number;
  /** Bytes in the data section. */
  dataLength: number;
}

const IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const CHUNK = 64 * 1024 * 1024;

function checkHost(): void {
  if (!IS_LITTLE_ENDIAN) throw new Error("safetensors I/O needs a little-endian host");
}

/** Number of elements for a shape (1 for a scalar []). */
export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

function defaultDType(data: TensorData): DType {
  if (data instanceof Float64Array) return "F64";
  if (data instanceof Float32Array) return "F32";
  if (data instanceof BigInt64Array) return "I64";
  if (data instanceof BigUint64Array) return "U64";
  if (data instanceof Int32Array) return "I32";
  if (data instanceof Uint32Array) return "U32";
  if (data instanceof Int16Array) return "I16";
  if (data instanceof Uint16Array) return "U16";
  if (data instanceof Int8Array) return "I8";
  return "U8";
}

function bytesOf(data: TensorData): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** Builds the padded header bytes for `tensors` laid out contiguously in the given order. */
export function encodeHeader(
  tensors: readonly NamedTensor[],
  metadata?: Record<string, string>,
): { header: Uint8Array; entries: HeaderEntry[] } {
  const obj: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length > 0) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== "string") throw new Error(`safetensors metadata value for "${k}" must be a string`);
    }
    obj.__metadata__ = metadata;
  }
  const entries: HeaderEntry[] = [];
  const seen = new Set<string>();
  let offset = 0;
  for (const t of tensors) {
    if (t.name === "__metadata__") throw new Error(`"__metadata__" is not a valid tensor name`);
    if (seen.has(t.name)) throw new Error(`duplicate tensor name "${t.name}"`);
    seen.add(t.name);
    const dtype = t.dtype ?? defaultDType(t.data);
    for (const d of t.shape) {
      if (!Number.isSafeInteger(d) || d < 0) {
        throw new Error(`tensor "${t.name}" has a bad shape [${t.shape}]`);
      }
    }
    const size = numel(t.shape) * DTYPE_SIZE[dtype];
    if (size !== t.data.byteLength) {
      throw new Error(
        `tensor "${t.name}": shape [${t.shape}] as ${dtype} needs ${size} bytes but the data has ${t.data.byteLength}`,
      );
    }
    entries.push({ name: t.name, dtype, shape: [...t.shape], begin: offset, end: offset + size });
    obj[t.name] = { dtype, shape: t.shape, data_offsets: [offset, offset + size] };
    offset += size;
  }
  let json = JSON.stringify(obj);
  const len = new TextEncoder().encode(json).length;
  json += " ".repeat((8 - (len % 8)) % 8);
  const body = new TextEncoder().encode(json);
  const header = new Uint8Array(8 + body.length);
  new DataView(header.buffer).setBigUint64(0, BigInt(body.length), true);
  header.set(body, 8);
  return { header, entries };
}

async function writeAll(file: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  for (let pos = 0; pos < bytes.length;) {
    const chunk = bytes.subarray(pos, Math.min(pos + CHUNK, bytes.length));
    let done = 0;
    while (done < chunk.length) done += await file.write(chunk.subarray(done));
    pos += chunk.length;
  }
}

/**
 * Streams `tensors` into a new file at `path` (created or truncated; NOT atomic), one tensor at a time, and fsyncs
 * it. Use {@link saveSafetensors} for an atomic write.
 */
export async function writeSafetensorsFile(
  path: string,
  tensors: readonly NamedTensor[],
  metadata?: Record<string, string>,
): Promise<void> {
  checkHost();
  const { header } = encodeHeader(tensors, metadata);
  const file = await Deno.open(path, { write: true, create: true, truncate: true });
  try {
    await writeAll(file, header);
    for (const t of tensors) await writeAll(file, bytesOf(t.data));
    await file.sync();
  } finally {
    file.close();
  }
}

/** Writes a safetensors file atomically (sibling temp file, fsync, rename). */
export async function saveSafetensors(
  path: string,
  tensors: readonly NamedTensor[],
  metadata?: Record<string, string>,
): Promise<void> {
  const tmp = `${path}.tmp-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
  try {
    await writeSafetensorsFile(tmp, tensors, metadata);
    await Deno.rename(tmp, path);
  } catch (err) {
    await Deno.remove(tmp).catch(() => {});
    throw err;
  }
}

/** Encodes tensors into one in-memory buffer (small files and tests; prefer the streaming writers for weights). */
export function encodeSafetensors(
  tensors: readonly NamedTensor[],
  metadata?: Record<string, string>,
): Uint8Array {
  checkHost();
  const { header, entries } = encodeHeader(tensors, metadata);
  const total = header.length + (entries.length ? entries[entries.length - 1].end : 0);
  const out = new Uint8Array(total);
  out.set(header, 0);
  tensors.forEach((t, i) => out.set(bytesOf(t.data), header.length + entries[i].begin));
  return out;
}

function bad(path: string, problem: string): UserError {
  return new UserError(`corrupt safetensors file ${path}: ${problem}`);
}

/** Parses and validates a header (JSON bytes, already unpadded or padded) against a data section length. */
export function parseHeader(
  path: string,
  json: Uint8Array,
  dataStart: number,
  dataLength: number,
): SafetensorsHeader {
  let obj: unknown;
  try {
    obj = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(json));
  } catch (err) {
    throw bad(path, `header is not valid JSON (${(err as Error).message})`);
  }
  if (typeof obj !== "object" || obj === null || Array.isArray(obj)) {
    throw bad(path, "header is not a JSON object");
  }
  const metadata: Record<string, string> = {};
  const entries: HeaderEntry[] = [];
  for (const [name, raw] of Object.entries(obj as Record<string, unknown>)) {
    if (name === "__metadata__") {
      if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
        throw bad(path, "__metadata__ is not an object");
      }
      for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
        if (typeof v !== "string") throw bad(path, `__metadata__ value for "${k}" is not a string`);
        metadata[k] = v;
      }
      continue;
    }
    const e = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof e !== "object" || e === null) throw bad(path, `tensor "${name}" has no header entry object`);
    if (typeof e.dtype !== "string" || !(e.dtype in DTYPE_SIZE)) {
      throw bad(path, `tensor "${name}" has an unknown dtype ${JSON.stringify(e.dtype)}`);
    }
    const dtype = e.dtype as DType;
    if (!Array.isArray(e.shape) || !e.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw bad(path, `tensor "${name}" has a bad shape ${JSON.stringify(e.shape)}`);
    }
    const shape = e.shape as number[];
    const off = e.data_offsets;
    if (
      !Array.isArray(off) || off.length !== 2 || !off.every((d) => Number.isSafeInteger(d) && d >= 0) ||
      off[0] > off[1]
    ) {
      throw bad(path, `tensor "${name}" has bad data_offsets ${JSON.stringify(off)}`);
    }
    const [begin, end] = off as number[];
    const want = numel(shape) * DTYPE_SIZE[dtype];
    if (end - begin !== want) {
      throw bad(
        path,
        `tensor "${name}" spans ${end - begin} bytes but shape [${shape}] as ${dtype} needs ${want}`,
      );
    }
    entries.push({ name, dtype, shape, begin, end });
  }
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  for (let i = 1; i < entries.length; i++) {
    const prev = entries[i - 1], cur = entries[i];
    if (cur.begin < prev.end) {
      throw bad(
        path,
        `tensors "${prev.name}" and "${cur.name}" overlap (data_offsets ${prev.begin}..${prev.end} ` +
          `and ${cur.begin}..${cur.end})`,
      );
    }
  }
  const last = entries[entries.length - 1];
  if (last && last.end > dataLength) {
    throw bad(
      path,
      `the file is truncated: tensor "${last.name}" ends at byte ${last.end} of the data section, ` +
        `which has only ${dataLength} bytes`,
    );
  }
  return { entries, metadata, dataStart, dataLength };
}

async function readExactly(file: Deno.FsFile, path: string, at: number, buf: Uint8Array): Promise<void> {
  await file.seek(at, Deno.SeekMode.Start);
  let done = 0;
  while (done < buf.length) {
    const n = await file.read(buf.subarray(done, Math.min(buf.length, done + CHUNK)));
    if (n === null || n === 0) throw bad(path, `unexpected end of file at byte ${at + done}`);
    done += n;
  }
}

async function readHeaderFrom(file: Deno.FsFile, path: string): Promise<SafetensorsHeader> {
  const size = (await file.stat()).size;
  if (size < 8) {
    throw bad(path, `file too short (${size} bytes; a safetensors file starts with an 8-byte length)`);
  }
  const lenBytes = new Uint8Array(8);
  await readExactly(file, path, 0, lenBytes);
  const n = new DataView(lenBytes.buffer).getBigUint64(0, true);
  if (n > BigInt(size - 8)) {
    throw bad(path, `header length ${n} goes past the end of the file (${size} bytes)`);
  }
  const headerLen = Number(n);
  const json = new Uint8Array(headerLen);
  await readExactly(file, path, 8, json);
  return parseHeader(path, json, 8 + headerLen, size - 8 - headerLen);
}

/** Reads and validates only the header of a safetensors file. */
export async function readSafetensorsHeader(path: string): Promise<SafetensorsHeader> {
  const file = await openForRead(path);
  try {
    return await readHeaderFrom(file, path);
  } finally {
    file.close();
  }
}

async function openForRead(path: string): Promise<Deno.FsFile> {
  try {
    return await Deno.open(path, { read: true });
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) throw new UserError(`no such safetensors file: ${path}`);
    throw err;
  }
}

function typedView(dtype: DType, buf: ArrayBuffer): TensorData {
  switch (dtype) {
    case "F64":
      return new Float64Array(buf);
    case "F32":
      return new Float32Array(buf);
    case "I64":
      return new BigInt64Array(buf);
    case "U64":
      return new BigUint64Array(buf);
    case "I32":
      return new Int32Array(buf);
    case "U32":
      return new Uint32Array(buf);
    case "I16":
      return new Int16Array(buf);
    case "F16":
    case "BF16":
    case "U16":
      return new Uint16Array(buf);
    case "I8":
      return new Int8Array(buf);
    default:
      return new Uint8Array(buf);
  }
}

/** Converts bfloat16 bit patterns to float32 (exact: bf16 is the top half of an f32). */
export function bf16ToF32(bits: Uint16Array): Float32Array {
  const out = new Uint32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = bits[i] << 16;
  return new Float32Array(out.buffer);
}

/** Converts float32 values to bfloat16 bit patterns (round to nearest even; NaN stays NaN). */
export function f32ToBf16(values: Float32Array): Uint16Array {
  const u = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const out = new Uint16Array(values.length);
  for (let i = 0; i < u.length; i++) {
    const x = u[i];
    if ((x & 0x7f800000) === 0x7f800000 && (x & 0x7fffff) !== 0) out[i] = (x >>> 16) | 0x40;
    else out[i] = ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
  }
  return out;
}

export interface ReadOptions {
  /** Read only these tensors (each must exist); default all. */
  names?: readonly string[];
  /** Return BF16 tensors as F32 (Float32Array). Default false. */
  upcastBf16?: boolean;
}

export interface SafetensorsContents {
  /** Tensors in file data order. */
  tensors: Map<string, Tensor>;
  metadata: Record<string, string>;
}

/** Reads (a subset of) a safetensors file, validating the header first; errors are UserErrors naming the file. */
export async function readSafetensors(path: string, options: ReadOptions = {}): Promise<SafetensorsContents> {
  checkHost();
  const file = await openForRead(path);
  try {
    const header = await readHeaderFrom(file, path);
    let wanted = header.entries;
    if (options.names) {
      const byName = new Map(header.entries.map((e) => [e.name, e]));
      const missing = options.names.filter((n) => !byName.has(n));
      if (missing.length > 0) {
        throw new UserError(
          `safetensors file ${path} has no tensor ${missing.map((n) => `"${n}"`).join(", ")}`,
        );
      }
      const set = new Set(options.names);
      wanted = header.entries.filter((e) => set.has(e.name));
    }
    const tensors = new Map<string, Tensor>();
    for (const e of wanted) {
      const buf = new ArrayBuffer(e.end - e.begin);
      if (buf.byteLength > 0) await readExactly(file, path, header.dataStart + e.begin, new Uint8Array(buf));
      let dtype = e.dtype;
      let data = typedView(dtype, buf);
      if (dtype === "BF16" && options.upcastBf16) {
        data = bf16ToF32(data as Uint16Array);
        dtype = "F32";
      }
      tensors.set(e.name, { name: e.name, dtype, shape: e.shape, data });
    }
    return { tensors, metadata: header.metadata };
  } finally {
    file.close();
  }
}
