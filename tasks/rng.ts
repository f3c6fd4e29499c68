// Bit-exact ports of the two random generators nanochat's data order depends on:
// - Python's `random.Random` (MT19937, seeded from an int as CPython does): task mixtures (`Random(42)`),
//   SpellingBee examples (`Random(index)`), CORE's data shuffle (`Random(1337)`) and few-shot draws
//   (`Random(1234 + idx).sample`).
// - NumPy's `default_rng(seed).permutation(n)` (SeedSequence -> PCG64 -> Fisher-Yates with bounded
//   masking), which is what Hugging Face `datasets`' `.shuffle(seed=42)` uses to order every dataset.
// The tests check both against values printed by CPython 3.11 and NumPy 2.

const N = 624;
const M = 397;

/** CPython's `random.Random` with an integer seed: same seed, same numbers, same shuffles and samples. */
export class PyRandom {
  readonly #mt = new Uint32Array(N);
  #index = N;

  constructor(seed: number | bigint) {
    this.#seed(BigInt(seed));
  }

  /** One 32-bit output (genrand_uint32). */
  nextUint32(): number {
    if (this.#index >= N) this.#twist();
    let y = this.#mt[this.#index++];
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }

  /** `random.random()`: a float in [0, 1) built from 53 random bits. */
  random(): number {
    const a = this.nextUint32() >>> 5;
    const b = this.nextUint32() >>> 6;
    return (a * 67108864 + b) * (1 / 9007199254740992);
  }

  /** `getrandbits(k)` for 1 <= k <= 32. */
  getrandbits(k: number): number {
    if (!Number.isInteger(k) || k < 1 || k > 32) throw new RangeError(`getrandbits: k=${k} outside [1, 32]`);
    return this.nextUint32() >>> (32 - k);
  }

  /** `_randbelow(n)`: uniform in [0, n) by rejection on n.bit_length() bits (n < 2^32). */
  randbelow(n: number): number {
    if (!Number.isInteger(n) || n < 1 || n >= 2 ** 32) throw new RangeError(`randbelow: n=${n} out of range`);
    const k = 32 - Math.clz32(n);
    let r = this.getrandbits(k);
    while (r >= n) r = this.getrandbits(k);
    return r;
  }

  /** `choice(seq)`. */
  choice<T>(seq: ArrayLike<T>): T {
    if (seq.length === 0) throw new RangeError("choice from an empty sequence");
    return seq[this.randbelow(seq.length)];
  }

  /** `shuffle(x)` in place. */
  shuffle<T>(x: T[]): T[] {
    for (let i = x.length - 1; i > 0; i--) {
      const j = this.randbelow(i + 1);
      const t = x[i];
      x[i] = x[j];
      x[j] = t;
    }
    return x;
  }

  /**
   * `sample(population, k)` over a population given by its length and an accessor, so that CORE's
   * "every index but idx" population never has to be built. Uses CPython's two algorithms (a pool for
   * small populations, a selected-set for large ones) with its exact switch-over size.
   */
  sampleIndexed<T>(n: number, k: number, at: (i: number) => T): T[] {
    if (!Number.isInteger(k) || k < 0 || k > n) {
      throw new RangeError("sample larger than population or negative");
    }
    const result: T[] = new Array(k);
    let setsize = 21;
    if (k > 5) setsize += 4 ** Math.ceil(Math.log(k * 3) / Math.log(4));
    if (n <= setsize) {
      const pool = Array.from({ length: n }, (_, i) => at(i));
      for (let i = 0; i < k; i++) {
        const j = this.randbelow(n - i);
        result[i] = pool[j];
        pool[j] = pool[n - i - 1];
      }
    } else {
      const selected = new Set<number>();
      for (let i = 0; i < k; i++) {
        let j = this.randbelow(n);
        while (selected.has(j)) j = this.randbelow(n);
        selected.add(j);
        result[i] = at(j);
      }
    }
    return result;
  }

  /** `sample(population, k)` of an array. */
  sample<T>(population: readonly T[], k: number): T[] {
    return this.sampleIndexed(population.length, k, (i) => population[i]);
  }

  // init_by_array with the 32-bit words of |seed|, least significant first (CPython's random_seed)
  #seed(seed: bigint): void {
    let a = seed < 0n ? -seed : seed;
    const key: number[] = [];
    do {
      key.push(Number(a & 0xffffffffn));
      a >>= 32n;
    } while (a > 0n);
    const mt = this.#mt;
    mt[0] = 19650218;
    for (let i = 1; i < N; i++) mt[i] = (Math.imul(1812433253, mt[i - 1] ^ (mt[i - 1] >>> 30)) + i) >>> 0;
    let i = 1;
    let j = 0;
    for (let k = Math.max(N, key.length); k > 0; k--) {
      mt[i] = ((mt[i] ^ Math.imul(mt[i - 1] ^ (mt[i - 1] >>> 30), 1664525)) + key[j] + j) >>> 0;
      i++;
      j++;
      if (i >= N) {
        mt[0] = mt[N - 1];
        i = 1;
      }
      if (j >= key.length) j = 0;
    }
    for (let k = N - 1; k > 0; k--) {
      mt[i] = ((mt[i] ^ Math.imul(mt[i - 1] ^ (mt[i - 1] >>> 30), 1566083941)) - i) >>> 0;
      i++;
      if (i >= N) {
        mt[0] = mt[N - 1];
        i = 1;
      }
    }
    mt[0] = 0x80000000;
    this.#index = N;
  }

  #twist(): void {
    const mt = this.#mt;
    for (let k = 0; k < N; k++) {
      const y = (mt[k] & 0x80000000) | (mt[(k + 1) % N] & 0x7fffffff);
      mt[k] = (mt[(k + M) % N] ^ (y >>> 1) ^ (y & 1 ? 0x9908b0df : 0)) >>> 0;
    }
    this.#index = 0;
  }
}

// ---------------------------------------------------------------------------------------------------
// NumPy: SeedSequence(seed).generate_state(4, uint64) seeds PCG64 (XSL-RR 128/64), whose 32-bit draws
// halve a 64-bit output (low half first); permutation(n) is a Fisher-Yates shuffle of arange(n) drawing
// j in [0, i] by masking to the next power of two and rejecting.

const MASK64 = (1n << 64n) - 1n;
const MASK128 = (1n << 128n) - 1n;
const PCG_MULT = (2549297995355413924n << 64n) + 4865540595714422341n;

/** SeedSequence(seed).generate_state(nWords) as uint32 words (seed < 2^32, no spawn key). */
function seedSequenceState(seed: number, nWords: number): Uint32Array {
  const mul = (a: number, b: number) => Math.imul(a, b) >>> 0;
  let hashConst = 0x43b0d7e5;
  const hashmix = (value: number) => {
    value = (value ^ hashConst) >>> 0;
    hashConst = mul(hashConst, 0x931e8875);
    value = mul(value, hashConst);
    return (value ^ (value >>> 16)) >>> 0;
  };
  const mix = (x: number, y: number) => {
    const r = (mul(0xca01f9dd, x) - mul(0x4973f715, y)) >>> 0;
    return (r ^ (r >>> 16)) >>> 0;
  };
  const entropy = [seed >>> 0];
  const pool = new Uint32Array(4);
  for (let i = 0; i < 4; i++) pool[i] = hashmix(i < entropy.length ? entropy[i] : 0);
  for (let src = 0; src < 4; src++) {
    for (let dst = 0; dst < 4; dst++) if (src !== dst) pool[dst] = mix(pool[dst], hashmix(pool[src]));
  }
  const out = new Uint32Array(nWords);
  let h = 0x8b51f9dd;
  for (let i = 0; i < nWords; i++) {
    let v = (pool[i % 4] ^ h) >>> 0;
    h = mul(h, 0x58f38ded);
    v = mul(v, h);
    out[i] = (v ^ (v >>> 16)) >>> 0;
  }
  return out;
}

/** NumPy's PCG64 bit generator as `default_rng(seed)` creates it. */
class Pcg64 {
  #state = 0n;
  #inc = 0n;
  #buffered: number | null = null;

  constructor(seed: number) {
    const w = seedSequenceState(seed, 8);
    const u64 = (i: number) => (BigInt(w[2 * i + 1]) << 32n) | BigInt(w[2 * i]);
    const initState = (u64(0) << 64n) | u64(1);
    const initSeq = (u64(2) << 64n) | u64(3);
    this.#inc = ((initSeq << 1n) | 1n) & MASK128;
    this.#step();
    this.#state = (this.#state + initState) & MASK128;
    this.#step();
  }

  next64(): bigint {
    this.#step();
    const s = this.#state;
    const xored = ((s >> 64n) ^ s) & MASK64;
    const rot = Number(s >> 122n);
    return ((xored >> BigInt(rot)) | (xored << BigInt((64 - rot) & 63))) & MASK64;
  }

  next32(): number {
    if (this.#buffered !== null) {
      const v = this.#buffered;
      this.#buffered = null;
      return v;
    }
    const n = this.next64();
    this.#buffered = Number(n >> 32n);
    return Number(n & 0xffffffffn);
  }

  #step(): void {
    this.#state = (this.#state * PCG_MULT + this.#inc) & MASK128;
  }
}

/** `numpy.random.default_rng(seed).permutation(n)`, i.e. the row order of `datasets`' `.shuffle(seed)`. */
export function numpyPermutation(n: number, seed: number): Uint32Array {
  if (!Number.isInteger(n) || n < 0 || n >= 2 ** 32) {
    throw new RangeError(`permutation size ${n} out of range`);
  }
  const out = new Uint32Array(n);
  for (let i = 0; i < n; i++) out[i] = i;
  const rng = new Pcg64(seed);
  for (let i = n - 1; i >= 1; i--) {
    let mask = i;
    mask |= mask >>> 1;
    mask |= mask >>> 2;
    mask |= mask >>> 4;
    mask |= mask >>> 8;
    mask |= mask >>> 16;
    let j: number;
    do j = (rng.next32() & mask) >>> 0; while (j > i);
    const t = out[i];
    out[i] = out[j];
    out[j] = t;
  }
  return out;
}
