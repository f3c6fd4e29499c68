// Opens the C++ compute library once per process and offers the helpers its callers need: status checks
// that turn the library's last error into a UserError, and packing/unpacking of the ABI's plain structs
// (byte offsets from kernels/include/nanochat.h) with DataView.
import { openLibrary, sharedLibraryName } from "./loader.ts";
import { type ComputeSymbols, computeSymbols } from "./compute_symbols.ts";
import { UserError } from "../src/common/errors.ts";

/** The ABI version these bindings were written against (NC_ABI_VERSION). */
export const NC_ABI_VERSION = 1;

/** Status codes (NC_OK, NC_ERR_*). */
export const NcStatus = {
  OK: 0,
  INVALID_ARGUMENT: 1,
  OUT_OF_RANGE: 2,
  OUT_OF_MEMORY: 3,
  UNSUPPORTED: 4,
  STATE: 5,
  INTERNAL: 6,
} as const;

/** Optimizer groups of parameters (NC_GROUP_*). */
export const NcGroup = { EMBEDDING: 0, UNEMBEDDING: 1, MATRIX: 2 } as const;

/** NcContextConfig.flags bits. */
export const NC_CONTEXT_PROFILE = 1;

let cached: ComputeSymbols | undefined;

/** The compute library's symbols (opened on first use; the ABI version is checked once). */
export function compute(): ComputeSymbols {
  if (cached) return cached;
  const lib = openLibrary({
    stem: "nanochat_cpu",
    envVar: "NANOCHAT_COMPUTE_LIB",
    builtUrl: new URL(`../kernels/build/${sharedLibraryName("nanochat_cpu")}`, import.meta.url),
    buildHint: "deno task build",
  }, computeSymbols).symbols;
  const version = lib.nc_abi_version();
  if (version !== NC_ABI_VERSION) {
    throw new UserError(
      `the compute library has ABI version ${version}, these bindings expect ${NC_ABI_VERSION}; ` +
        "rebuild it with `deno task build`",
    );
  }
  cached = lib;
  return cached;
}

/** The backend's name, e.g. "cpu". */
export function backendName(): string {
  return cstr(compute().nc_backend_name());
}

/** The last error on `ctx` (any of its handles' calls), or process-wide when ctx is null. */
export function lastError(ctx: Deno.PointerValue): string {
  return cstr(compute().nc_last_error(ctx));
}

/** Throws a UserError with the library's message when `status` is nonzero. */
export function check(status: number, what: string, ctx: Deno.PointerValue = null): void {
  if (status === NcStatus.OK) return;
  const msg = lastError(ctx) || cstr(compute().nc_status_string(status)) || `error code ${status}`;
  throw new UserError(`${what}: ${msg}`);
}

function cstr(p: Deno.PointerValue): string {
  return p === null ? "" : Deno.UnsafePointerView.getCString(p);
}

/** A one-slot out parameter for a handle written by the library. */
export function handleSlot(): BigUint64Array<ArrayBuffer> {
  return new BigUint64Array(1);
}

/** The handle a create call wrote into `slot`. */
export function handleFrom(slot: BigUint64Array, what: string): Deno.PointerObject {
  const p = Deno.UnsafePointer.create(slot[0]);
  if (p === null) throw new UserError(`${what}: the library returned no handle`);
  return p;
}

// ---------------------------------------------------------------------------------------------------
// Structs

/** NcContextConfig (48 bytes). */
export interface NcContextConfig {
  device?: number;
  deviceIndex?: number;
  numThreads?: number;
  flags?: number;
  seed?: bigint | number;
}

/** Packs NcContextConfig; reserved fields are zero. */
export function packContextConfig(c: NcContextConfig): Uint8Array<ArrayBuffer> {
  const buf = new Uint8Array(48);
  const v = new DataView(buf.buffer);
  v.setInt32(0, c.device ?? 0, true);
  v.setInt32(4, c.deviceIndex ?? 0, true);
  v.setInt32(8, c.numThreads ?? 0, true);
  v.setUint32(12, c.flags ?? 0, true);
  v.setBigUint64(16, BigInt.asUintN(64, BigInt(c.seed ?? 0)), true);
  return buf;
}

/** NcModelConfig (64 bytes), nanochat GPTConfig version A plus the buffer sizing. */
export interface NcModelConfig {
  vocabSize: number;
  nLayer: number;
  nHead: number;
  nKvHead: number;
  nEmbd: number;
  sequenceLen: number;
  maxBatch: number;
  rotaryBase?: number;
  softcap?: number;
}

/** Packs NcModelConfig (rotary base 10000 and softcap 15 by default); reserved fields are zero. */
export function packModelConfig(c: NcModelConfig): Uint8Array<ArrayBuffer> {
  const buf = new Uint8Array(64);
  const v = new DataView(buf.buffer);
  v.setInt32(0, c.vocabSize, true);
  v.setInt32(4, c.nLayer, true);
  v.setInt32(8, c.nHead, true);
  v.setInt32(12, c.nKvHead, true);
  v.setInt32(16, c.nEmbd, true);
  v.setInt32(20, c.sequenceLen, true);
  v.setInt32(24, c.maxBatch, true);
  v.setUint32(28, 0, true);
  v.setFloat32(32, c.rotaryBase ?? 10000, true);
  v.setFloat32(36, c.softcap ?? 15, true);
  return buf;
}

/** Reads NcModelConfig back. */
export function unpackModelConfig(buf: Uint8Array): Required<NcModelConfig> {
  const v = view(buf, 64);
  return {
    vocabSize: v.getInt32(0, true),
    nLayer: v.getInt32(4, true),
    nHead: v.getInt32(8, true),
    nKvHead: v.getInt32(12, true),
    nEmbd: v.getInt32(16, true),
    sequenceLen: v.getInt32(20, true),
    maxBatch: v.getInt32(24, true),
    rotaryBase: v.getFloat32(32, true),
    softcap: v.getFloat32(36, true),
  };
}

/** NcParamCounts (48 bytes). */
export interface NcParamCounts {
  wte: number;
  lmHead: number;
  transformer: number;
  total: number;
  numTensors: number;
  flopsPerToken: number;
}

/** Reads NcParamCounts. */
export function unpackParamCounts(buf: Uint8Array): NcParamCounts {
  const v = view(buf, 48);
  return {
    wte: Number(v.getBigInt64(0, true)),
    lmHead: Number(v.getBigInt64(8, true)),
    transformer: Number(v.getBigInt64(16, true)),
    total: Number(v.getBigInt64(24, true)),
    numTensors: Number(v.getBigInt64(32, true)),
    flopsPerToken: v.getFloat64(40, true),
  };
}

/** One row of the parameter or optimizer-state table (NcParamInfo, 184 bytes). */
export interface NcParamInfo {
  name: string;
  shape: number[];
  numel: number;
  dtype: number;
  group: number;
  paramIndex: number;
}

/** Size of NcParamInfo in bytes. */
export const PARAM_INFO_SIZE = 184;

const utf8 = new TextDecoder("utf-8");

/** Reads NcParamInfo. */
export function unpackParamInfo(buf: Uint8Array): NcParamInfo {
  const v = view(buf, PARAM_INFO_SIZE);
  let end = 0;
  while (end < 128 && buf[end] !== 0) end++;
  const ndim = v.getInt32(128, true);
  const shape: number[] = [];
  for (let d = 0; d < ndim && d < 4; d++) shape.push(Number(v.getBigInt64(144 + 8 * d, true)));
  return {
    name: utf8.decode(buf.subarray(0, end)),
    dtype: v.getInt32(132, true),
    group: v.getInt32(136, true),
    paramIndex: v.getInt32(140, true),
    shape,
    numel: Number(v.getBigInt64(176, true)),
  };
}

/** One optimizer step's hyperparameters (NcOptimStep, 128 bytes). */
export interface NcOptimStep {
  lrEmbedding: number;
  lrUnembedding: number;
  lrMatrix: number;
  muonMomentum: number;
  adamBeta1: number;
  adamBeta2: number;
  adamEps: number;
  weightDecay: number;
  gradScale: number;
}

/** Packs NcOptimStep; reserved fields are zero. */
export function packOptimStep(s: NcOptimStep): Uint8Array<ArrayBuffer> {
  const buf = new Uint8Array(128);
  const v = new DataView(buf.buffer);
  const fields = [
    s.lrEmbedding,
    s.lrUnembedding,
    s.lrMatrix,
    s.muonMomentum,
    s.adamBeta1,
    s.adamBeta2,
    s.adamEps,
    s.weightDecay,
    s.gradScale,
  ];
  fields.forEach((x, i) => v.setFloat64(8 * i, x, true));
  return buf;
}

/** Per-phase timings (NcProfile, 128 bytes), accumulated while the context profiles. */
export interface NcProfile {
  calls: number;
  totalSeconds: number;
  matmulSeconds: number;
  matmulFlops: number;
  attentionSeconds: number;
  attentionFlops: number;
  headSeconds: number;
  optimizerSeconds: number;
}

/** Reads NcProfile. */
export function unpackProfile(buf: Uint8Array): NcProfile {
  const v = view(buf, 128);
  const f = (i: number) => v.getFloat64(8 * i, true);
  return {
    calls: f(0),
    totalSeconds: f(1),
    matmulSeconds: f(2),
    matmulFlops: f(3),
    attentionSeconds: f(4),
    attentionFlops: f(5),
    headSeconds: f(6),
    optimizerSeconds: f(7),
  };
}

function view(buf: Uint8Array, size: number): DataView {
  if (buf.byteLength < size) throw new Error(`struct buffer of ${buf.byteLength} bytes, need ${size}`);
  return new DataView(buf.buffer, buf.byteOffset, size);
}
