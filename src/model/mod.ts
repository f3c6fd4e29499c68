// The model over the compute library: contexts on a device, the GPT, its KV caches, communicators.
export {
  ComputeContext,
  type ContextOptions,
  DEVICE_CHOICES,
  type DeviceInfo,
  type DeviceRequest,
  listDevices,
} from "./context.ts";
export {
  GPT,
  type GPTOptions,
  libraryParamCounts,
  type LossStats,
  type NcParamCounts,
  type NcProfile,
  type OptimizerState,
  type OptimStepOptions,
  type ParamInfo,
} from "./gpt.ts";
export { KVCache, type SampledTokens, type SamplingOptions } from "./kv_cache.ts";
export { Communicator } from "./comm.ts";
export { configFromDepth, countParams, flopsPerToken, type GPTConfig } from "./config.ts";
