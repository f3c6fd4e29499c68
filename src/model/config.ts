// The model's shape from one dial, --depth, exactly as nanochat derives it, plus the parameter and
// FLOP counts that the training schedule (Chinchilla horizon, MFU) is computed from.
import { UserError } from "../common/errors.ts";

/** nanochat's GPTConfig. */
export interface GPTConfig {
  sequenceLen: number;
  vocabSize: number;
  nLayer: number;
  nHead: number;
  nKvHead: number;
  nEmbd: number;
}

/** Width 64 per layer (aspect ratio 64), heads of about 128 channels, no GQA by default. */
export function configFromDepth(depth: number, vocabSize = 65536, sequenceLen = 2048): GPTConfig {
  if (!Number.isInteger(depth) || depth < 1) {
    throw new UserError(`--depth must be a positive integer, got ${depth}`);
  }
  const nEmbd = depth * 64;
  const nHead = Math.max(1, Math.ceil(nEmbd / 128));
  const config = { sequenceLen, vocabSize, nLayer: depth, nHead, nKvHead: nHead, nEmbd };
  validateConfig(config);
  return config;
}

/** Checks the shape constraints of the architecture, with a message that says which one failed. */
export function validateConfig(c: GPTConfig): void {
  for (const [name, v] of Object.entries(c)) {
    if (!Number.isInteger(v) || v < 1) {
      throw new UserError(`model config: ${name} must be a positive integer, got ${v}`);
    }
  }
  if (c.nEmbd % c.nHead !== 0) {
    throw new UserError(
      `model width ${c.nEmbd} is not divisible by ${c.nHead} heads (depth ${c.nLayer}); ` +
        `pick a depth whose width 64*depth divides evenly into ceil(width/128) heads, e.g. an even depth`,
    );
  }
  if (c.nHead % c.nKvHead !== 0) {
    throw new UserError(`${c.nKvHead} kv heads must divide ${c.nHead} query heads evenly`);
  }
  if ((c.nEmbd / c.nHead) % 2 !== 0) {
    throw new UserError(`head dim ${c.nEmbd / c.nHead} must be even for rotary embeddings`);
  }
}

export interface ParamCounts {
  wte: number;
  lmHead: number;
  transformer: number;
  total: number;
}

/** Parameter counts by group: embedding, unembedding, and the transformer blocks (no biases anywhere). */
export function countParams(c: GPTConfig): ParamCounts {
  const headDim = c.nEmbd / c.nHead;
  const kv = c.nKvHead * headDim;
  const attn = c.nEmbd * c.nEmbd /* c_q */ + 2 * c.nEmbd * kv /* c_k, c_v */ + c.nEmbd * c.nEmbd; /* c_proj */
  const mlp = 2 * 4 * c.nEmbd * c.nEmbd; // c_fc and c_proj
  const transformer = c.nLayer * (attn + mlp);
  const wte = c.vocabSize * c.nEmbd;
  const lmHead = c.vocabSize * c.nEmbd;
  return { wte, lmHead, transformer, total: wte + lmHead + transformer };
}

/** Training FLOPs per token: 6 per matmul weight (embedding lookups are free) plus attention's 12·L·H·D·T. */
export function flopsPerToken(c: GPTConfig): number {
  const p = countParams(c);
  const headDim = c.nEmbd / c.nHead;
  return 6 * (p.total - p.wte) + 12 * c.nLayer * c.nHead * headDim * c.sequenceLen;
}
