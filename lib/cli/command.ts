import type { Logger } from "../runtime/log.ts";

/** What main.ts gives a command: its environment and output streams, so commands stay testable in-process. */
export interface CommandContext {
  env: Record<string, string | undefined>;
  stdout: (text: string) => void;
  /** Raw bytes to stdout (inspect --raw). */
  stdoutBytes: (bytes: Uint8Array) => Promise<void>;
  isTerminal: boolean;
  /** Human-facing side channel (progress bars); default: the process's stderr. */
  stderr?: (text: string) => void;
  /** Whether `stderr` is a terminal (redrawn progress bar) or a log (JSON lines); default: asks Deno. */
  stderrIsTerminal?: boolean;
  /** Resolves when SIGINT/SIGTERM arrives: long-running commands stop gracefully. */
  shutdown: AbortSignal;
  log?: Logger;
  /** The command being run, as main.ts dispatched it: for usage errors that point at its --help. */
  command?: string;
}

export interface Command {
  name: string;
  summary: string;
  help: string;
  /** Returns the process exit code; throws coded errors for main.ts to report. */
  run(argv: string[], ctx: CommandContext): Promise<number>;
}
