// Moves a model's weights and optimizer state between the native library and checkpoint tensors.
import { UserError } from "../common/errors.ts";
import type { GPT } from "../model/gpt.ts";
import type { LoadedCheckpoint } from "./checkpoint.ts";
import type { NamedTensor } from "./safetensors.ts";

/** Every parameter, named as nanochat's state_dict, ready for safetensors. */
export function modelTensors(model: GPT): NamedTensor[] {
  return model.params().map((p) => ({ name: p.name, shape: p.shape, data: model.readParam(p.index) }));
}

/** Every optimizer tensor (exp_avg, exp_avg_sq, momentum_buffer rows). */
export function optimTensors(model: GPT): NamedTensor[] {
  return model.optimStates().map((s) => ({
    name: s.name,
    shape: s.shape,
    data: model.readOptimState(s.index),
  }));
}

/** The parameter shapes a checkpoint must have to load into `model`. */
export function expectedShapes(model: GPT): { name: string; shape: number[] }[] {
  return model.params().map((p) => ({ name: p.name, shape: p.shape }));
}

/** Writes a loaded checkpoint's weights (and optimizer state with its step count, when present). */
export function restoreModel(model: GPT, ckpt: LoadedCheckpoint, optimStep?: number): void {
  for (const p of model.params()) {
    const t = ckpt.model.get(p.name);
    if (!t || !(t.data instanceof Float32Array)) {
      throw new UserError(`checkpoint ${ckpt.dir} step ${ckpt.step}: tensor ${p.name} is missing or not F32`);
    }
    model.writeParam(p.index, t.data as Float32Array<ArrayBuffer>);
  }
  if (ckpt.optim === undefined) return;
  for (const s of model.optimStates()) {
    const t = ckpt.optim.get(s.name);
    if (!t || !(t.data instanceof Float32Array) || t.data.length !== s.numel) {
      throw new UserError(
        `checkpoint ${ckpt.dir} step ${ckpt.step}: optimizer tensor ${s.name} is missing or wrong`,
      );
    }
    model.writeOptimState(s.index, t.data as Float32Array<ArrayBuffer>);
  }
  if (optimStep !== undefined) model.setOptimStep(optimStep);
}
