// The inference engine: generation with in-library sampling, the calculator tool, UTF-8 streaming and
// checkpoint loading.
export * from "./types.ts";
export {
  type BatchOptions,
  DEFAULT_SEED,
  Engine,
  type EngineCache,
  type EngineModel,
  type EngineSampling,
  type GeneratedRow,
  rowSeeds,
} from "./engine.ts";
export { formatPythonFloat, MAX_EXPRESSION_LENGTH, useCalculator } from "./calculator.ts";
export { Utf8StreamDecoder } from "./utf8_stream.ts";
export { CHAT_SOURCES, loadChatModel, type LoadChatModelOptions, type LoadedChatModel } from "./load.ts";
