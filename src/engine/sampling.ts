// Token sampling: a small seeded RNG and nanochat's sample_next_token (greedy, top-k, temperature).

/**
 * A seeded pseudo-random generator (mulberry32: a 32-bit state advanced by a Weyl sequence, then mixed
 * with two multiply-xorshift rounds). Small, fast and plenty for sampling; not cryptographic.
 */
export class Rng {
  #state: number;

  constructor(seed: number) {
    // fold any finite number (negative, > 2^32, fractional) into 32 bits
    const s = Number.isFinite(seed) ? Math.trunc(seed) : 0;
    this.#state = (s ^ Math.trunc(s / 2 ** 32)) >>> 0;
  }

  /** A uniform 32-bit unsigned integer. */
  nextU32(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let t = this.#state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** A uniform float in [0, 1). */
  next(): number {
    return this.nextU32() / 2 ** 32;
  }
}

/** Index of the largest value (the first one on ties). */
export function argmax(row: ArrayLike<number>): number {
  let best = 0;
  let bestV = -Infinity;
  for (let i = 0; i < row.length; i++) {
    if (row[i] > bestV) {
      bestV = row[i];
      best = i;
    }
  }
  return best;
}

/** Indices of the k largest values, largest first (ties keep the lower index first). */
export function topKIndices(row: ArrayLike<number>, k: number): number[] {
  const n = Math.min(k, row.length);
  const idx: number[] = [];
  for (let i = 0; i < row.length; i++) {
    const v = row[i];
    if (idx.length === n && !(v > row[idx[n - 1]])) continue;
    // insertion into the sorted (descending) list
    let j = idx.length < n ? idx.length : n - 1;
    if (idx.length < n) idx.push(i);
    while (j > 0 && row[idx[j - 1]] < v) {
      idx[j] = idx[j - 1];
      j--;
    }
    idx[j] = i;
  }
  return idx;
}

/**
 * Samples one token id from a row of logits: temperature 0 = argmax; topK > 0 keeps only the k largest
 * logits; otherwise softmax(logits / temperature) (with the maximum subtracted) and one draw from `rng`.
 */
export function sampleToken(row: ArrayLike<number>, temperature: number, topK: number, rng: Rng): number {
  if (!(temperature >= 0)) throw new RangeError(`temperature must be >= 0, got ${temperature}`);
  if (temperature === 0) return argmax(row);
  const candidates = topK > 0 && topK < row.length ? topKIndices(row, topK) : null;
  const n = candidates ? candidates.length : row.length;
  const at = (i: number) => candidates ? row[candidates[i]] : row[i];
  let max = -Infinity;
  for (let i = 0; i < n; i++) max = Math.max(max, at(i));
  const probs = new Float64Array(n);
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const p = Math.exp((at(i) - max) / temperature);
    probs[i] = p;
    sum += p;
  }
  let r = rng.next() * sum;
  let pick = n - 1;
  for (let i = 0; i < n; i++) {
    r -= probs[i];
    if (r < 0) {
      pick = i;
      break;
    }
  }
  // never land on a zero-probability tail entry through rounding
  while (pick > 0 && probs[pick] === 0) pick--;
  return candidates ? candidates[pick] : pick;
}
