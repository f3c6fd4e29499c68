// The task library: nanochat's datasets as tasks (size, get(i) -> conversation, evalType, evaluate,
// reward), slicing, TaskMixture/TaskSequence with nanochat's shuffles, and where the data comes from
// (Hugging Face parquet downloads, or an offline folder via --task-data-dir / $NANOCHAT_TASK_DATA_DIR).
export {
  type EvalType,
  extractHashAnswer,
  LetterTask,
  renderMc,
  RowsTask,
  Task,
  type TaskConversation,
  TaskMixture,
  TaskSequence,
  type TaskSlice,
} from "./task.ts";
export { ARC, type ArcOptions, type ArcRow, type ArcSplit, type ArcSubset } from "./arc.ts";
export { MMLU, type MmluOptions, type MmluRow, type MmluSplit, type MmluSubset } from "./mmlu.ts";
export { gradeHashAnswer, GSM8K, type Gsm8kOptions, gsm8kParts, type Gsm8kRow } from "./gsm8k.ts";
export {
  extractImports,
  extractProgram,
  HumanEval,
  type HumanEvalOptions,
  humanEvalProgram,
  type HumanEvalRow,
  type PythonRunner,
} from "./humaneval.ts";
export { checkMessages, SmolTalk, type SmolTalkOptions } from "./smoltalk.ts";
export { CustomJSON, IDENTITY_URL } from "./customjson.ts";
export {
  loadWordList,
  SimpleSpelling,
  SpellingBee,
  type SpellingOptions,
  WORD_LIST_URL,
} from "./spelling.ts";
export { offlineDir, TASK_DATA_ENV, type TaskDataOptions } from "./source.ts";
export { HUB_URL_ENV, hubCacheDir, type HubSplit, loadHubRows } from "./hub.ts";
export { numpyPermutation, PyRandom } from "./rng.ts";
