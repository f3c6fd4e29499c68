// `nanochat model info`: the shape, parameter counts and FLOPs of the model a --depth gives.
import type { Command } from "commander";
import { configFromDepth, countParams, flopsPerToken } from "../model/config.ts";
import { parseIntOption } from "./context.ts";

export function registerModelCommands(program: Command): void {
  const model = program.command("model").description("inspect model shapes");
  model.command("info")
    .description("print the config, parameter counts and FLOPs per token for a depth")
    .requiredOption("--depth <n>", "number of layers (width = 64*depth)", parseIntOption("--depth"))
    .option("--vocab-size <n>", "vocabulary size", parseIntOption("--vocab-size"), 65536)
    .option("--max-seq-len <n>", "context length", parseIntOption("--max-seq-len"), 2048)
    .option("--json", "print JSON instead of a table")
    .action((opts) => {
      const config = configFromDepth(opts.depth, opts.vocabSize, opts.maxSeqLen);
      const params = countParams(config);
      const flops = flopsPerToken(config);
      if (opts.json) {
        console.log(JSON.stringify({ config, params, flopsPerToken: flops }, null, 2));
        return;
      }
      const n = (v: number) => v.toLocaleString("en-US");
      const rows: [string, string][] = [
        ["depth (n_layer)", n(config.nLayer)],
        ["width (n_embd)", n(config.nEmbd)],
        ["heads / kv heads", `${config.nHead} / ${config.nKvHead} (head dim ${config.nEmbd / config.nHead})`],
        ["vocab size", n(config.vocabSize)],
        ["sequence length", n(config.sequenceLen)],
        ["params: wte", n(params.wte)],
        ["params: lm_head", n(params.lmHead)],
        ["params: transformer", n(params.transformer)],
        ["params: total", n(params.total)],
        ["FLOPs per token", flops.toExponential(4)],
        ["Chinchilla tokens (20x params)", n(20 * params.total)],
      ];
      const width = Math.max(...rows.map(([k]) => k.length));
      for (const [k, v] of rows) console.log(`${k.padEnd(width)}  ${v}`);
    });
}
