// The plain structs of the compute library's ABI (kernels/include/nanochat.h, version 2), packed and
// unpacked with DataView at the byte offsets the header gives. Reserved fields are always zero.

/** Status codes (NC_OK, NC_ERR_*). */
export const NcStatus = {
  OK: 0,
  INVALID_ARGUMENT: 1,
  OUT_OF_RANGE: 2,
  OUT_OF_MEMORY: 3,
  UNSUPPORTED: 4,
  STATE: 5,
  INTERNAL: 6,
  TIMEOUT: 7,
  PEER_FAILED: 8,
} as const;

/** Device kinds (NC_DEVICE_*). */
export const NcDevice = { CPU: 0, CUDA: 1 } as const;

/** Compute and tensor dtypes (NC_DTYPE_*). */
export const NcDtype = { F32: 0, BF16: 1 } as const;

/** Optimizer groups of parameters (NC_GROUP_*). */
export const NcGroup = { EMBEDDING: 0, UNEMBEDDING: 1, MATRIX: 2 } as const;

/** NcContextConfig.flags bits. */
export const NC_CONTEXT_PROFILE = 1;

/** A compute dtype by name. */
export type ComputeDtype = "f32" | "bf16";

/** One device of a backend (NcDeviceInfo, 320 bytes). */
export interface NcDeviceInfo {
  /** The CPU model or the GPU's name. */
  name: string;
  /** NC_DEVICE_* */
  device: number;
  index: number;
  /** Bytes: physical RAM or GPU memory. */
  totalMemory: number;
  /** Bytes available now. */
  freeMemory: number;
  /** CUDA SM version [major, minor]; [0, 0] on the CPU. */
  computeCapability: [number, number];
  /** Logical CPU cores or GPU multiprocessors. */
  cores: number;
  /** The compute dtypes the device runs. */
  computeDtypes: ComputeDtype[];
}

/** Size of NcDeviceInfo in bytes. */
export const DEVICE_INFO_SIZE = 320;

const utf8 = new TextDecoder("utf-8");

function cString(buf: Uint8Array, max: number): string {
  let end = 0;
  while (end < max && buf[end] !== 0) end++;
  return utf8.decode(buf.subarray(0, end));
}

/** Reads NcDeviceInfo. */
export function unpackDeviceInfo(buf: Uint8Array): NcDeviceInfo {
  const v = view(buf, DEVICE_INFO_SIZE);
  const dtypes = v.getUint32(292, true);
  return {
    name: cString(buf, 256),
    device: v.getInt32(256, true),
    index: v.getInt32(260, true),
    totalMemory: Number(v.getBigInt64(264, true)),
    freeMemory: Number(v.getBigInt64(272, true)),
    computeCapability: [v.getInt32(280, true), v.getInt32(284, true)],
    cores: v.getInt32(288, true),
    computeDtypes: (["f32", "bf16"] as const).filter((_, i) => dtypes & (1 << i)),
  };
}

/** NcContextConfig (48 bytes). */
export interface NcContextConfig {
  device?: number;
  deviceIndex?: number;
  numThreads?: number;
  flags?: number;
  seed?: bigint | number;
}

/** Packs NcContextConfig. */
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

/** NcModelConfig (64 bytes), nanochat GPTConfig version A plus the buffer sizing and compute dtype. */
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
  computeDtype?: ComputeDtype;
}

/** Packs NcModelConfig (rotary base 10000, softcap 15 and fp32 compute by default). */
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
  v.setInt32(40, c.computeDtype === "bf16" ? NcDtype.BF16 : NcDtype.F32, true);
  return buf;
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

/** One row of the parameter or optimizer-state table (NcParamInfo, 216 bytes). */
export interface NcParamInfo {
  name: string;
  /** Shape of the data the row holds. */
  shape: number[];
  numel: number;
  dtype: number;
  group: number;
  paramIndex: number;
  /** Element offset of the row's data in the full tensor (0 unless a communicator shards the state). */
  offset: number;
  /** Elements of the full tensor. */
  fullNumel: number;
}

/** Size of NcParamInfo in bytes. */
export const PARAM_INFO_SIZE = 216;

/** Reads NcParamInfo. */
export function unpackParamInfo(buf: Uint8Array): NcParamInfo {
  const v = view(buf, PARAM_INFO_SIZE);
  const ndim = v.getInt32(128, true);
  const shape: number[] = [];
  for (let d = 0; d < ndim && d < 4; d++) shape.push(Number(v.getBigInt64(144 + 8 * d, true)));
  return {
    name: cString(buf, 128),
    dtype: v.getInt32(132, true),
    group: v.getInt32(136, true),
    paramIndex: v.getInt32(140, true),
    shape,
    numel: Number(v.getBigInt64(176, true)),
    offset: Number(v.getBigInt64(184, true)),
    fullNumel: Number(v.getBigInt64(192, true)),
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

/** Packs NcOptimStep. */
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

/** The backward calls since the last zeroGrad (NcLossStats, 48 bytes). */
export interface NcLossStats {
  /** Sum of each call's loss (unscaled). */
  lossSum: number;
  /** The most recent call's loss. */
  lastLoss: number;
  /** Backward calls counted. */
  calls: number;
  /** Targets that entered a loss. */
  tokens: number;
}

/** Size of NcLossStats in bytes. */
export const LOSS_STATS_SIZE = 48;

/** Reads NcLossStats. */
export function unpackLossStats(buf: Uint8Array): NcLossStats {
  const v = view(buf, LOSS_STATS_SIZE);
  return {
    lossSum: v.getFloat64(0, true),
    lastLoss: v.getFloat64(8, true),
    calls: Number(v.getBigInt64(16, true)),
    tokens: Number(v.getBigInt64(24, true)),
  };
}

/** How the sampling calls choose a token (NcSampling, 32 bytes). */
export interface NcSampling {
  /** 0 = greedy. */
  temperature: number;
  /** 0 = every token is a candidate. */
  topK: number;
}

/** Packs NcSampling. */
export function packSampling(s: NcSampling): Uint8Array<ArrayBuffer> {
  const buf = new Uint8Array(32);
  const v = new DataView(buf.buffer);
  v.setFloat32(0, s.temperature, true);
  v.setInt32(4, s.topK, true);
  return buf;
}

/** Size of NcCommId in bytes. */
export const COMM_ID_SIZE = 128;

/** How ranks find each other (NcCommOptions, 528 bytes). */
export interface NcCommOptions {
  /** How the other ranks reach rank 0 (MASTER_ADDR); "" = the backend's default. */
  advertiseHost?: string;
  /** The address this rank listens on; "" = the backend's choice. */
  transportHost?: string;
  /** Bound on joining and on a collective waiting for a peer, ms; 0 = 5 minutes. */
  timeoutMs?: number;
}

/** Packs NcCommOptions (hosts of at most 255 UTF-8 bytes). */
export function packCommOptions(o: NcCommOptions): Uint8Array<ArrayBuffer> {
  const buf = new Uint8Array(528);
  const enc = new TextEncoder();
  for (
    const [off, host, what] of [[0, o.advertiseHost, "advertiseHost"], [
      256,
      o.transportHost,
      "transportHost",
    ]] as const
  ) {
    const bytes = enc.encode(host ?? "");
    if (bytes.length > 255) throw new RangeError(`${what} is longer than 255 bytes`);
    buf.set(bytes, off);
  }
  new DataView(buf.buffer).setBigInt64(512, BigInt(o.timeoutMs ?? 0), true);
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
  commSeconds: number;
  samplingSeconds: number;
}

/** Size of NcProfile in bytes. */
export const PROFILE_SIZE = 128;

/** Reads NcProfile. */
export function unpackProfile(buf: Uint8Array): NcProfile {
  const v = view(buf, PROFILE_SIZE);
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
    commSeconds: f(8),
    samplingSeconds: f(9),
  };
}

function view(buf: Uint8Array, size: number): DataView {
  if (buf.byteLength < size) throw new Error(`struct buffer of ${buf.byteLength} bytes, need ${size}`);
  return new DataView(buf.buffer, buf.byteOffset, size);
}
