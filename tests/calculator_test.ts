// The calculator tool: Python-compatible results for its small grammar, null for everything else,
// and no throw or hang on arbitrary input.
import { assert, assertEquals } from "@std/assert";
import { formatPythonFloat, MAX_EXPRESSION_LENGTH, useCalculator } from "../src/engine/calculator.ts";
import { Rng } from "./rng.ts";

Deno.test("calculator: arithmetic printed as Python prints it", () => {
  const cases: [string, string][] = [
    ["2+3", "5"],
    ["2 + 3 * 4", "14"],
    ["(2 + 3) * 4", "20"],
    ["7/2", "3.5"],
    ["10/2", "5.0"],
    ["7//2", "3"],
    ["-7//2", "-4"],
    ["-2**2", "-4"],
    ["2**-1", "0.5"],
    ["2**10", "1024"],
    ["2**3**2", "512"],
    ["-3", "-3"],
    ["--3", "3"],
    ["+4", "4"],
    ["7 % 3", "1"],
    ["-7 % 3", "2"],
    ["7 % -3", "-2"],
    ["7.5 % 2", "1.5"],
    ["0.1 + 0.2", "0.30000000000000004"],
    ["1/3", "0.3333333333333333"],
    ["1.5 * 2", "3.0"],
    ["1e16 / 1", "1e+16"],
    ["0.00001234 * 1", "1.234e-05"],
    ["0.0001 * 1", "0.0001"],
    ["123456789 * 987654321", "121932631112635269"],
    ["1,234 * 2", "2468"],
    ["10**20 / 3", "3.333333333333333e+19"],
    ["2**0.5", "1.4142135623730951"],
    ["5.", "5.0"],
    [".5", "0.5"],
    ["-0.0", "-0.0"],
    ["1e308 * 10", "inf"],
    ["'strawberry'.count('r')", "3"],
    ['"banana".count("an")', "2"],
    ["'aaaa'.count('aa')", "2"],
    ["'abc'.count('')", "4"],
    ["'a,b,c'.count(',')", "2"],
    ["'strawberry'.count('r') * 2 + 1", "7"],
    ["  ( 3 )  ", "3"],
  ];
  for (const [expr, want] of cases) assertEquals(useCalculator(expr), want, expr);
});

Deno.test("calculator: rejects what is outside the grammar or too big", () => {
  const rejects = [
    "",
    "   ",
    "x",
    "x + 1",
    "__import__('os').system('ls')",
    "lambda: 1",
    "open('f')",
    "print(1)",
    "'abc",
    "'abc'.count('a'",
    "'abc'.upper()",
    "'abc'",
    "1 +",
    "(1 + 2",
    "1 + 2)",
    "1/0",
    "1 % 0",
    "1.0 // 0",
    "0 ** -1",
    "2 ** 100000",
    "9 ** 9 ** 9",
    "10 ** 400 * 10 ** 400 * 10 ** 400",
    "1.5 ** 100000",
    "(-8) ** 0.5",
    "1 2",
    "1.2.3",
    "012",
    "1_000",
    "[1, 2]",
    "1; 2",
    "2 @ 3",
    "(".repeat(200) + "1" + ")".repeat(200),
    "-".repeat(200) + "1",
    "1+" + "1+".repeat(MAX_EXPRESSION_LENGTH) + "1",
  ];
  for (const expr of rejects) assertEquals(useCalculator(expr), null, expr);
});

Deno.test("calculator: Python float formatting", () => {
  assertEquals(formatPythonFloat(1e22), "1e+22");
  assertEquals(formatPythonFloat(123456789012345680), "1.2345678901234568e+17");
  assertEquals(formatPythonFloat(1234567890123456), "1234567890123456.0");
  assertEquals(formatPythonFloat(-2.5e-7), "-2.5e-07");
  assertEquals(formatPythonFloat(NaN), "nan");
  assertEquals(formatPythonFloat(-Infinity), "-inf");
});

Deno.test("calculator: fuzzed input never throws or hangs", () => {
  const rng = new Rng(7);
  const alphabet = "0123456789+-*/%().eE '\"abc_,\\count**//";
  const start = performance.now();
  for (let n = 0; n < 20000; n++) {
    const len = 1 + (rng.nextU32() % 60);
    let s = "";
    for (let i = 0; i < len; i++) s += alphabet[rng.nextU32() % alphabet.length];
    const r = useCalculator(s);
    assert(r === null || typeof r === "string");
  }
  // worst cases for time: long chains and big numbers at the length limit
  for (const s of ["9**9**9**9**9", "9".repeat(499), "(".repeat(250) + ")".repeat(250), "2**3000*2**3000"]) {
    const r = useCalculator(s);
    assert(r === null || typeof r === "string");
  }
  assert(performance.now() - start < 20_000, "the fuzz loop took too long");
});
