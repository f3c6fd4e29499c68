// The calculator tool: a small, safe evaluator of the expressions the model writes between
// <|python_start|> and <|python_end|>. No eval: a tokenizer and a recursive-descent parser over a tiny
// Python subset (numbers, + - * / // % **, parentheses, unary signs, and 'str'.count('sub')), printing
// results as Python's str() would. Anything outside that grammar, or too large, gives null.

/** Longest expression accepted (characters). */
export const MAX_EXPRESSION_LENGTH = 500;
/** Deepest nesting of parentheses / unary signs / powers. */
const MAX_DEPTH = 64;
/** Largest integer result (decimal digits); Python itself refuses to print ints beyond 4300 digits. */
const MAX_INT_DIGITS = 1000;
const MAX_INT_BITS = Math.ceil(MAX_INT_DIGITS * Math.log2(10));

type Value = { kind: "int"; v: bigint } | { kind: "float"; v: number };

class CalcError extends Error {}

type Tok =
  | { t: "num"; text: string }
  | { t: "str"; v: string }
  | { t: "op"; v: string };

const OPS = ["**", "//", "+", "-", "*", "/", "%", "(", ")", "."];

function tokenize(src: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i];
    if (c === " " || c === "\t") {
      i++;
      continue;
    }
    if (/[0-9.]/.test(c) && !(c === "." && !/[0-9]/.test(src[i + 1] ?? ""))) {
      const m = /^(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?/.exec(src.slice(i));
      if (!m) throw new CalcError("bad number");
      out.push({ t: "num", text: m[0] });
      i += m[0].length;
      // 12abc, 1.2.3
      if (i < src.length && /[0-9A-Za-z_.]/.test(src[i]) && src.slice(i, i + 6) !== ".count") {
        throw new CalcError("bad number");
      }
      continue;
    }
    if (c === "'" || c === '"') {
      let j = i + 1;
      let s = "";
      for (;;) {
        if (j >= src.length) throw new CalcError("unterminated string");
        const d = src[j];
        if (d === c) break;
        if (d === "\n") throw new CalcError("newline in string");
        if (d === "\\") {
          const e = src[j + 1];
          if (e === undefined) throw new CalcError("unterminated string");
          const map: Record<string, string> = { "\\": "\\", "'": "'", '"': '"', n: "\n", t: "\t" };
          s += map[e] ?? "\\" + e;
          j += 2;
          continue;
        }
        s += d;
        j++;
      }
      out.push({ t: "str", v: s });
      i = j + 1;
      continue;
    }
    if (src.startsWith("count", i) && out.at(-1)?.t === "op" && (out.at(-1) as { v: string }).v === ".") {
      out.push({ t: "op", v: "count" });
      i += 5;
      continue;
    }
    const op = OPS.find((o) => src.startsWith(o, i));
    if (!op) throw new CalcError(`unexpected ${JSON.stringify(c)}`);
    out.push({ t: "op", v: op });
    i += op.length;
  }
  return out;
}

function bitLength(n: bigint): number {
  return (n < 0n ? -n : n).toString(2).length;
}

function checkInt(n: bigint): Value {
  if (bitLength(n) > MAX_INT_BITS) throw new CalcError("integer too large");
  return { kind: "int", v: n };
}

function toFloat(x: Value): number {
  if (x.kind === "float") return x.v;
  const f = Number(x.v);
  if (!Number.isFinite(f)) throw new CalcError("int too large to convert to float");
  return f;
}

function floatResult(f: number): Value {
  return { kind: "float", v: f };
}

function pyMod(a: number, b: number): number {
  const r = a % b;
  if (r === 0) return b < 0 ? -0 : 0;
  return (r < 0) !== (b < 0) ? r + b : r;
}

function binary(op: string, a: Value, b: Value): Value {
  if (a.kind === "int" && b.kind === "int") {
    const x = a.v, y = b.v;
    switch (op) {
      case "+":
        return checkInt(x + y);
      case "-":
        return checkInt(x - y);
      case "*":
        if (bitLength(x) + bitLength(y) > MAX_INT_BITS + 1) throw new CalcError("integer too large");
        return checkInt(x * y);
      case "/":
        if (y === 0n) throw new CalcError("division by zero");
        return floatResult(trueDivide(x, y));
      case "//": {
        if (y === 0n) throw new CalcError("division by zero");
        const q = x / y;
        return { kind: "int", v: (x % y !== 0n && (x < 0n) !== (y < 0n)) ? q - 1n : q };
      }
      case "%": {
        if (y === 0n) throw new CalcError("division by zero");
        const r = x % y;
        return { kind: "int", v: r !== 0n && (r < 0n) !== (y < 0n) ? r + y : r };
      }
      case "**": {
        if (y < 0n) {
          if (x === 0n) throw new CalcError("division by zero");
          return floatResult(Math.pow(toFloat(a), Number(y)));
        }
        const ax = x < 0n ? -x : x;
        if (ax > 1n && BigInt(bitLength(x) - 1) * y > BigInt(MAX_INT_BITS)) {
          throw new CalcError("integer too large");
        }
        if (ax <= 1n) {
          return { kind: "int", v: ax === 0n ? (y === 0n ? 1n : 0n) : x < 0n && y % 2n === 1n ? -1n : 1n };
        }
        return checkInt(x ** y);
      }
    }
  }
  const x = toFloat(a), y = toFloat(b);
  switch (op) {
    case "+":
      return floatResult(x + y);
    case "-":
      return floatResult(x - y);
    case "*":
      return floatResult(x * y);
    case "/":
      if (y === 0) throw new CalcError("division by zero");
      return floatResult(x / y);
    case "//":
      if (y === 0) throw new CalcError("division by zero");
      return floatResult(Math.floor(x / y));
    case "%":
      if (y === 0) throw new CalcError("division by zero");
      return floatResult(pyMod(x, y));
    case "**": {
      if (x === 0 && y < 0) throw new CalcError("division by zero");
      if (x < 0 && !Number.isInteger(y)) throw new CalcError("complex result");
      const r = Math.pow(x, y);
      if (!Number.isFinite(r) && Number.isFinite(x) && Number.isFinite(y)) throw new CalcError("overflow");
      return floatResult(r);
    }
  }
  throw new CalcError(`unknown operator ${op}`);
}

/** int / int as Python does (correctly rounded for the sizes that matter here). */
function trueDivide(x: bigint, y: bigint): number {
  const fx = Number(x), fy = Number(y);
  if (Number.isFinite(fx) && Number.isFinite(fy) && Math.abs(fx) < 2 ** 53 && Math.abs(fy) < 2 ** 53) {
    return fx / fy;
  }
  // scale down big operands keeping ~64 significant bits of the quotient
  const shift = Math.max(0, bitLength(x) - bitLength(y) - 64);
  const q = (x << 64n) / (y << BigInt(shift));
  const r = Number(q) * 2 ** (shift - 64);
  if (!Number.isFinite(r)) throw new CalcError("integer division result too large for a float");
  return r;
}

class Parser {
  #toks: Tok[];
  #i = 0;
  #depth = 0;

  constructor(toks: Tok[]) {
    this.#toks = toks;
  }

  parse(): Value {
    const v = this.#expr();
    if (this.#i !== this.#toks.length) throw new CalcError("trailing input");
    return v;
  }

  #peekOp(...ops: string[]): string | null {
    const t = this.#toks[this.#i];
    return t?.t === "op" && ops.includes(t.v) ? t.v : null;
  }

  #expect(op: string): void {
    if (!this.#peekOp(op)) throw new CalcError(`expected ${op}`);
    this.#i++;
  }

  #enter(): void {
    if (++this.#depth > MAX_DEPTH) throw new CalcError("too deeply nested");
  }

  #expr(): Value {
    let v = this.#term();
    for (let op = this.#peekOp("+", "-"); op; op = this.#peekOp("+", "-")) {
      this.#i++;
      v = binary(op, v, this.#term());
    }
    return v;
  }

  #term(): Value {
    let v = this.#factor();
    for (let op = this.#peekOp("*", "/", "//", "%"); op; op = this.#peekOp("*", "/", "//", "%")) {
      this.#i++;
      v = binary(op, v, this.#factor());
    }
    return v;
  }

  #factor(): Value {
    const op = this.#peekOp("+", "-");
    if (op) {
      this.#i++;
      this.#enter();
      const v = this.#factor();
      this.#depth--;
      if (op === "+") return v;
      return v.kind === "int" ? { kind: "int", v: -v.v } : floatResult(-v.v);
    }
    return this.#power();
  }

  #power(): Value {
    const base = this.#atom();
    if (this.#peekOp("**")) {
      this.#i++;
      this.#enter();
      const exp = this.#factor();
      this.#depth--;
      return binary("**", base, exp);
    }
    return base;
  }

  #atom(): Value {
    const t = this.#toks[this.#i];
    if (!t) throw new CalcError("unexpected end");
    if (t.t === "num") {
      this.#i++;
      if (/^[0-9]+$/.test(t.text)) {
        if (/^0[0-9]/.test(t.text) && /[1-9]/.test(t.text)) throw new CalcError("leading zeros");
        return checkInt(BigInt(t.text));
      }
      const f = Number(t.text);
      return floatResult(f);
    }
    if (t.t === "str") {
      this.#i++;
      this.#expect(".");
      this.#expect("count");
      this.#expect("(");
      const sub = this.#toks[this.#i];
      if (sub?.t !== "str") throw new CalcError("count needs a string literal");
      this.#i++;
      this.#expect(")");
      return { kind: "int", v: BigInt(countOccurrences(t.v, sub.v)) };
    }
    if (t.v === "(") {
      this.#i++;
      this.#enter();
      const v = this.#expr();
      this.#depth--;
      this.#expect(")");
      return v;
    }
    throw new CalcError(`unexpected ${t.v}`);
  }
}

/** Python's str.count: non-overlapping occurrences; an empty needle counts len + 1. */
function countOccurrences(hay: string, needle: string): number {
  if (needle === "") return [...hay].length + 1;
  let n = 0;
  for (let at = hay.indexOf(needle); at >= 0; at = hay.indexOf(needle, at + needle.length)) n++;
  return n;
}

/** A float as Python's repr/str prints it: 5.0, 0.1, 1e-05, 1.5e+16, inf, nan, -0.0. */
export function formatPythonFloat(f: number): string {
  if (Number.isNaN(f)) return "nan";
  if (!Number.isFinite(f)) return f > 0 ? "inf" : "-inf";
  if (f === 0) return Object.is(f, -0) ? "-0.0" : "0.0";
  const sign = f < 0 ? "-" : "";
  // shortest round-trip digits, as Python's repr
  const [mant, expText] = Math.abs(f).toExponential().split("e");
  const digits = mant.replace(".", "");
  const exp = Number(expText);
  if (exp < -4 || exp >= 16) {
    const m = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    const e = Math.abs(exp).toString().padStart(2, "0");
    return `${sign}${m}e${exp < 0 ? "-" : "+"}${e}`;
  }
  if (exp < 0) return `${sign}0.${"0".repeat(-exp - 1)}${digits}`;
  const intPart = digits.slice(0, exp + 1).padEnd(exp + 1, "0");
  const frac = digits.slice(exp + 1);
  return `${sign}${intPart}.${frac === "" ? "0" : frac}`;
}

/**
 * Evaluates a calculator expression; returns what Python's `str(result)` prints, or null when the input
 * is outside the grammar, too long, too large, or an error (division by zero, overflow). Commas outside
 * string literals are dropped first ("1,234 * 2"), as nanochat does. Never throws.
 */
export function useCalculator(expression: string): string | null {
  if (typeof expression !== "string" || expression.length > MAX_EXPRESSION_LENGTH) return null;
  try {
    const toks = tokenize(stripCommas(expression.trim()));
    if (toks.length === 0) return null;
    const v = new Parser(toks).parse();
    return v.kind === "int" ? v.v.toString() : formatPythonFloat(v.v);
  } catch (err) {
    if (err instanceof CalcError || err instanceof RangeError) return null;
    return null;
  }
}

function stripCommas(src: string): string {
  let out = "";
  let quote: string | null = null;
  for (let i = 0; i < src.length; i++) {
    const c = src[i];
    if (quote) {
      out += c;
      if (c === "\\" && i + 1 < src.length) out += src[++i];
      else if (c === quote) quote = null;
    } else if (c === "'" || c === '"') {
      quote = c;
      out += c;
    } else if (c !== ",") out += c;
  }
  return out;
}
