// The public library surface of nanochat: what other Deno programs can import.
export { Tokenizer } from "./src/tokenizer/tokenizer.ts";
export type { EncodeOptions, TokenLike, TrainOptions } from "./src/tokenizer/tokenizer.ts";
export { SPECIAL_TOKENS, SPLIT_PATTERN } from "./src/tokenizer/special.ts";
export { renderConversation, renderForCompletion } from "./src/tokenizer/render.ts";
export type { Conversation, Message, MessagePart, Rendered } from "./src/tokenizer/render.ts";
export { visualizeTokenization } from "./src/tokenizer/visualize.ts";
export * from "./src/data/mod.ts";
export { firstRowGroupText, resolveDataDir } from "./src/data/sources.ts";
export { resolveBaseDir } from "./src/common/base_dir.ts";
export { UserError } from "./src/common/errors.ts";
export { buildProgram, runCli } from "./src/cli/main.ts";
