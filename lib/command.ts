import type { Logger } from "./log.ts";

/** What main.ts gives a command: its environment and output streams, so commands stay testable in-process. */
export interface CommandContext {
  env: Record<string, string | undefined>;
  stdout: (text: string) => void;
  /** Raw bytes to stdout (inspect --raw). */
  stdoutBytes: (bytes: Uint8Array) => Promise<void>;
  isTerminal: boolean;
  /** Resolves when SIGINT/SIGTERM arrives: long-running commands stop gracefully. */
  shutdown: AbortSignal;
  log?: Logger;
}

export interface Command {
  name: string;
  summary: string;
  help: string;
  /** Returns the process exit code; throws coded errors for main.ts to report. */
  run(argv: string[], ctx: CommandContext): Promise<number>;
}
