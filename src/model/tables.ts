// The model's two tables as the library describes them: parameters (nanochat state_dict names, shapes,
// optimizer groups) and optimizer state (exp_avg / exp_avg_sq / momentum_buffer rows, with the slice of
// the full tensor each row holds when a communicator shards the state).
import { PARAM_INFO_SIZE, unpackParamInfo } from "../../ffi/compute_structs.ts";
import type { CallGate } from "./call_gate.ts";

/** One row of the parameter table (or of the optimizer-state table). */
export interface ParamInfo {
  /** nanochat state_dict name, e.g. "transformer.h.0.attn.c_q.weight" (or "<param>.exp_avg" for states). */
  name: string;
  /** PyTorch shape (nn.Linear weights are [out, in]) of the data the row holds. */
  shape: number[];
  numel: number;
  /** Row index in its table. */
  index: number;
  /** NC_GROUP_*: 0 embedding (AdamW), 1 unembedding (AdamW), 2 matrix (Muon). */
  group: number;
  /** The parameter the row belongs to (itself for parameters). */
  paramIndex: number;
  /** Element offset of the row's data in the full tensor (0 unless sharded). */
  offset: number;
  /** Elements of the full tensor (= numel unless sharded). */
  fullNumel: number;
}

/** Reads every row of the parameter table ("params") or the optimizer-state table ("states"). */
export function readTable(
  gate: CallGate,
  model: Deno.PointerObject,
  table: "params" | "states",
): ParamInfo[] {
  const what = table === "params" ? "reading the parameter table" : "reading the optimizer-state table";
  const n = new Int32Array(1);
  gate.sync(
    what,
    (s) => table === "params" ? s.nc_model_num_params(model, n) : s.nc_model_optim_num_states(model, n),
  );
  const buf = new Uint8Array(PARAM_INFO_SIZE);
  const rows: ParamInfo[] = [];
  for (let i = 0; i < n[0]; i++) {
    buf.fill(0);
    gate.sync(
      what,
      (s) =>
        table === "params"
          ? s.nc_model_param_info(model, i, buf)
          : s.nc_model_optim_state_info(model, i, buf),
    );
    const { name, shape, numel, group, paramIndex, offset, fullNumel } = unpackParamInfo(buf);
    rows.push({ name, shape, numel, index: i, group, paramIndex, offset, fullNumel });
  }
  return rows;
}
