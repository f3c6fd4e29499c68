// Evaluation: bits per byte, the CORE metric (bundle, protocol, results), chat evaluation (ChatCORE) and
// the code sandbox.
export { evaluateBpb, type TokenBatch } from "./bpb.ts";
export {
  centeredAccuracy,
  type CoreOptions,
  type CoreResults,
  type CoreTaskResult,
  type CoreTokenizer,
  evaluateCore,
  evaluateCoreTask,
  gptScorer,
  type SequenceScorer,
} from "./core.ts";
export {
  CORE_TASK_LABELS,
  type CoreBundle,
  type CoreTaskSpec,
  type CoreTaskType,
  EVAL_BUNDLE_URL,
  openBundle,
  resolveBundle,
} from "./core_bundle.ts";
export { coreCsv, coreResultsStem, writeCoreResults } from "./core_report.ts";
export {
  CHAT_TASKS,
  chatCore,
  CHATCORE_BASELINES,
  type ChatTaskName,
  type ChatTaskResult,
  loadChatTask,
  parseTaskNames,
  runCategorical,
  runGenerative,
} from "./chat_eval.ts";
export { evalChat, type EvalChatOptions, type EvalChatResult } from "./chat_run.ts";
export { evalBase, type EvalBaseOptions, type EvalBaseResult } from "./base_eval.ts";
export {
  type ExecutionResult,
  REQUIRE_SANDBOX_ENV,
  Sandbox,
  SANDBOX_PYTHON_ENV,
  type SandboxOptions,
} from "./sandbox.ts";
