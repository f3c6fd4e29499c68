// Peak FLOP/s of the device, for MFU: nanochat's table for GPUs (bf16 dense), and for the CPU a
// theoretical fp32 figure that --peak-flops overrides: cores x clock x FLOPs/cycle, where two FMA units
// give 2 x 2 x lanes (64 with AVX-512, 32 with AVX2+FMA, 16 with SSE).

const GPU_PEAKS: [RegExp, number][] = [
  [/H100.*PCIe/i, 756e12],
  [/H100|H200|GH200/i, 989e12],
  [/B200/i, 2.25e15],
  [/A100/i, 312e12],
  [/L40S/i, 362e12],
  [/A10G?\b/i, 125e12],
  [/RTX 4090/i, 165e12],
  [/RTX 3090/i, 71e12],
];

/** The bf16 dense peak of a GPU by name, or null when it is not in the table. */
export function gpuPeakFlops(name: string): number | null {
  for (const [re, peak] of GPU_PEAKS) if (re.test(name)) return peak;
  return null;
}

/** A theoretical fp32 peak for this machine's CPU, or null when the clock cannot be read. */
export function cpuPeakFlops(threads: number): number | null {
  try {
    const info = Deno.readTextFileSync("/proc/cpuinfo");
    const mhz = /cpu MHz\s*:\s*([\d.]+)/.exec(info);
    if (!mhz) return null;
    const flags = /^flags\s*:(.*)$/m.exec(info)?.[1] ?? "";
    const perCycle = / avx512f\b/.test(flags) ? 64 : / fma\b/.test(flags) ? 32 : 16;
    return threads * Number(mhz[1]) * 1e6 * perCycle;
  } catch {
    return null;
  }
}
