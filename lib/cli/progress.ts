// Progress of long runs (verify, export, restore): a redrawn bar with rate and ETA on a terminal, JSON lines
// elsewhere so that logs of unattended runs stay parseable. Output is driven by tick() alone (no timers), so a
// stalled run prints nothing new and nothing outlives the command.
import type { CommandContext } from "./command.ts";
import { formatBytes, formatDuration } from "./output.ts";

export interface ProgressOptions {
  /** Units expected in all; unknown (a bucket listing) shows counts and rates only. */
  total?: number;
  label: string;
  /** Redraw one line with "\r" (a person watches) or print JSON lines (a log collects). */
  isTerminal: boolean;
  write: (text: string) => void;
  /** ms clock; tests pass a fake one. */
  now?: () => number;
  /** Minimum ms between two outputs: terminals redraw often, logs get a line now and then. */
  intervalMs?: number;
}

export interface Progress {
  /** `n` more units done, `bytes` more bytes moved. */
  tick(n: number, bytes?: number): void;
  /** Final output, always written; `summary` fields join the last JSON line (or follow the bar). */
  done(summary?: Record<string, unknown>): void;
}

export interface ProgressState {
  label: string;
  done: number;
  total: number | undefined;
  bytes: number;
  elapsedMs: number;
}

const BAR_WIDTH = 30;

/** Units per second and the estimated ms left (null while unknown). */
export function rates(s: ProgressState): { perSecond: number; bytesPerSecond: number; etaMs: number | null } {
  const seconds = s.elapsedMs / 1000;
  const perSecond = seconds > 0 ? s.done / seconds : 0;
  const bytesPerSecond = seconds > 0 ? s.bytes / seconds : 0;
  const etaMs = s.total !== undefined && perSecond > 0 ? ((s.total - s.done) / perSecond) * 1000 : null;
  return { perSecond, bytesPerSecond, etaMs: etaMs === null ? null : Math.max(0, etaMs) };
}

/** Pure: the terminal line for `s`, e.g. `verify [#####.....] 50% 500/1000 12.0/s 1.2 MiB/s ETA 0:41`. */
export function renderBar(s: ProgressState): string {
  const r = rates(s);
  const parts = [s.label];
  if (s.total !== undefined && s.total > 0) {
    const fraction = Math.min(1, s.done / s.total);
    const filled = Math.round(fraction * BAR_WIDTH);
    parts.push(`[${"#".repeat(filled)}${".".repeat(BAR_WIDTH - filled)}]`);
    parts.push(`${Math.floor(fraction * 100)}%`, `${s.done}/${s.total}`);
  } else parts.push(`${s.done}`);
  parts.push(`${r.perSecond.toFixed(1)}/s`);
  if (s.bytes > 0) parts.push(`${formatBytes(r.bytesPerSecond)}/s`);
  if (r.etaMs !== null) parts.push(`ETA ${formatDuration(r.etaMs)}`);
  return parts.join(" ");
}

/** Pure: the JSON line for `s` (a log record like lib/runtime/log.ts writes, with `msg: "progress"`). */
export function renderJson(s: ProgressState, extra: Record<string, unknown> = {}): string {
  const r = rates(s);
  return JSON.stringify({
    msg: "progress",
    label: s.label,
    done: s.done,
    ...(s.total !== undefined ? { total: s.total } : {}),
    bytes: s.bytes,
    perSecond: Number(r.perSecond.toFixed(2)),
    ...(r.etaMs !== null ? { etaSeconds: Math.round(r.etaMs / 1000) } : {}),
    ...extra,
  }, (_k, v) => typeof v === "bigint" ? v.toString() : v);
}

export function createProgress(options: ProgressOptions): Progress {
  const now = options.now ?? (() => performance.now());
  const interval = options.intervalMs ?? (options.isTerminal ? 100 : 10_000);
  const started = now();
  let lastOutput = started;
  let done = 0;
  let bytes = 0;
  let width = 0;
  const state = (): ProgressState => ({
    label: options.label,
    done,
    total: options.total,
    bytes,
    elapsedMs: now() - started,
  });
  // The previous line may have been longer: pad so no stale characters remain after "\r".
  const draw = (line: string) => {
    options.write(`\r${line.padEnd(width)}`);
    width = line.length;
  };
  return {
    tick(n, moved = 0) {
      done += n;
      bytes += moved;
      const t = now();
      if (t - lastOutput < interval) return;
      lastOutput = t;
      if (options.isTerminal) draw(renderBar(state()));
      else options.write(renderJson(state()) + "\n");
    },
    done(summary = {}) {
      if (options.isTerminal) {
        draw(renderBar(state()));
        const fields = Object.entries(summary).map(([k, v]) => `${k} ${v}`);
        options.write(fields.length > 0 ? `\n${options.label}: ${fields.join(", ")}\n` : "\n");
      } else options.write(renderJson(state(), { finished: true, ...summary }) + "\n");
    },
  };
}

const encoder = new TextEncoder();

/** A command's progress on its stderr (stdout carries results, which must stay clean for pipes). */
export function commandProgress(
  ctx: CommandContext,
  options: { label: string; total?: number; quiet?: boolean },
): Progress {
  if (options.quiet) return { tick() {}, done() {} };
  return createProgress({
    label: options.label,
    ...(options.total !== undefined ? { total: options.total } : {}),
    isTerminal: ctx.stderrIsTerminal ?? Deno.stderr.isTerminal(),
    write: ctx.stderr ?? ((text) => Deno.stderr.writeSync(encoder.encode(text))),
  });
}
