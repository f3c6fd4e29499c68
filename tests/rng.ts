// A small seeded pseudo-random generator for test data (mulberry32: a 32-bit state advanced by a Weyl
// sequence, then mixed with two multiply-xorshift rounds). Not cryptographic; plenty for fixtures.

/** Seeded uniform numbers. */
export class Rng {
  #state: number;

  constructor(seed: number) {
    this.#state = seed >>> 0;
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
