// Streaming UTF-8 decoding: bytes of successive tokens in, text out, never half a code point.

const decoder = new TextDecoder("utf-8", { fatal: false, ignoreBOM: true });

/** Length of the UTF-8 sequence a lead byte starts (0 for a continuation or invalid byte). */
function sequenceLength(b: number): number {
  if (b < 0x80) return 1;
  if (b >= 0xc2 && b <= 0xdf) return 2;
  if (b >= 0xe0 && b <= 0xef) return 3;
  if (b >= 0xf0 && b <= 0xf4) return 4;
  return 0;
}

/**
 * Turns a stream of byte chunks (one token's bytes at a time) into text. The incomplete tail of a
 * multi-byte character is held back until the rest arrives; `flush` emits whatever is left (invalid or
 * truncated sequences become U+FFFD, as TextDecoder does).
 */
export class Utf8StreamDecoder {
  #held: Uint8Array = new Uint8Array(0);

  /** Bytes held back, waiting for the rest of a character. */
  get pending(): number {
    return this.#held.length;
  }

  /** Text completed by these bytes ("" while a character is still incomplete). */
  push(bytes: Uint8Array): string {
    let buf = bytes;
    if (this.#held.length > 0) {
      buf = new Uint8Array(this.#held.length + bytes.length);
      buf.set(this.#held);
      buf.set(bytes, this.#held.length);
    }
    // find the start of a trailing sequence that is still missing bytes
    let i = buf.length - 1;
    while (i >= 0 && i > buf.length - 4 && (buf[i] & 0xc0) === 0x80) i--;
    let cut = buf.length;
    if (i >= 0) {
      const need = sequenceLength(buf[i]);
      if (need > 1 && buf.length - i < need) cut = i;
    }
    this.#held = buf.slice(cut);
    return cut === 0 ? "" : decoder.decode(buf.subarray(0, cut));
  }

  /** Text of any held-back bytes (U+FFFD for an incomplete character); the decoder then starts afresh. */
  flush(): string {
    const rest = this.#held;
    this.#held = new Uint8Array(0);
    return rest.length === 0 ? "" : decoder.decode(rest);
  }
}
