// The program's version, shown by `nanochat --version` and recorded in checkpoints and reports.
export const VERSION = "0.1.0";
