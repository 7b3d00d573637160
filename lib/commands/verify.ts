// `verify`: reconcile the index with the object store (lib/verify/check.ts), optionally against a mock-hop manifest
// (lib/verify/manifest.ts). Reports each problem as found; exits 1 while any problem remains unrepaired.
import {
  SELECTION_COMMAND_OPTIONS,
  type SelectionCommandOptions,
  selectionCommandOptions,
  withReadOnlyServices,
} from "../cli/read_commands.ts";
import type { Command, CommandContext } from "../cli/command.ts";
import { parseCommandArgs, settingsHelp } from "../cli/config.ts";
import { publicTopicsSetting } from "../cli/services.ts";
import { printConfig, type Services } from "../cli/services.ts";
import { errorMessage, hkError } from "../runtime/errors.ts";
import { toJson } from "../cli/output.ts";
import type { SelectFilter } from "../index/types.ts";
import { type ManifestLine, parseManifest } from "../mock/manifest.ts";
import { commandProgress } from "../cli/progress.ts";
import { positiveInt, type ValueSource } from "../cli/flags.ts";
import {
  optionsHelp,
  optionSpec,
  type OptionTable,
  type OptionValues,
  printableOptions,
  readOptions,
} from "../cli/options.ts";
import { describeSelection, SELECTION_HELP } from "../cli/selection.ts";
import { type Problem, verifyArchive, type VerifySummary } from "../verify/check.ts";
import { checkManifest, type ManifestSummary, validateManifest } from "../verify/manifest.ts";

const VERIFY_OPTIONS = {
  sample: {
    type: "string",
    arg: "N",
    help: [
      "check N random index rows instead of all of them (from an index of 100 000 rows or more,",
      "drawn from random blocks of it; the store is still listed for orphans unless --skip-orphans)",
    ],
    parse: (text: string | undefined, source: ValueSource) => positiveInt(source, text),
  },
  repair: {
    type: "boolean",
    help: [
      "index valid orphans from the objects themselves (uuid, topic, time, coordinates and checksums",
      "as the object states them); orphans whose uuid the object does not confirm are only reported.",
      "Also re-derives each quarantined row's header columns from its object: rows the index now",
      "accepts in full leave the quarantine",
    ],
  },
  manifest: {
    type: "string",
    arg: "FILE",
    help: [
      "also check the archive against a manifest written by `housekeeping mock-hop --manifest`",
      "(without --topic, the check is limited to the manifest's topics)",
    ],
  },
  quick: { type: "boolean", help: "HEAD objects (existence and size) instead of reading them" },
  "skip-orphans": { type: "boolean", help: "do not list the store for orphans" },
  concurrency: {
    type: "string",
    arg: "N",
    default: 16,
    help: "objects read at once",
    parse: { int: "concurrency" },
  },
  grace: {
    type: "string",
    arg: "SECONDS",
    default: 300,
    help: 'rows younger than this with a missing object are "possibly in flight"',
    // 0 is allowed: every missing object is then a problem.
    parse: (text: string, source: ValueSource) => text === "0" ? 0 : positiveInt(source, text)!,
  },
  json: { type: "boolean", help: 'JSON lines (one per problem, then {"summary": ...}) instead of text' },
  quiet: { type: "boolean", help: "no progress output" },
} as const satisfies OptionTable;

const OPTIONS = { ...SELECTION_COMMAND_OPTIONS, ...optionSpec(VERIFY_OPTIONS) };

export interface VerifyOptions extends SelectionCommandOptions {
  /** The options as the table reads them, for --print-config. */
  own: OptionValues<typeof VERIFY_OPTIONS>;
  sample: number | undefined;
  repair: boolean;
  manifest: string | undefined;
  quick: boolean;
  orphans: boolean;
  concurrency: number;
  graceMs: bigint;
  json: boolean;
  quiet: boolean;
}

/** Pure: argv + environment (+ config file text) -> options; `now` (ms) anchors ages such as `--since 24h`. */
export function parseVerifyArgs(
  argv: string[],
  env: Record<string, string | undefined>,
  now: bigint,
  readConfig: (path: string) => string = Deno.readTextFileSync,
): VerifyOptions {
  const { values } = parseCommandArgs("verify", argv, OPTIONS);
  const own = readOptions("verify", VERIFY_OPTIONS, values, env);
  const orphans = !own["skip-orphans"];
  if (own.repair && !orphans) {
    throw hkError(
      "USAGE",
      "--repair indexes orphans, which --skip-orphans does not look for; drop one of them",
    );
  }
  if (own.quick && own.manifest !== undefined) {
    throw hkError(
      "USAGE",
      "--manifest compares object contents, which --quick does not read; drop one of them",
    );
  }
  return {
    ...selectionCommandOptions("verify", values, env, now, readConfig),
    own,
    sample: own.sample,
    repair: own.repair,
    manifest: own.manifest,
    quick: own.quick,
    orphans,
    concurrency: own.concurrency,
    graceMs: BigInt(own.grace) * 1000n,
    json: own.json,
    quiet: own.quiet,
  };
}

export const command: Command = {
  name: "verify",
  summary: "reconcile the index with the object store (missing, orphaned, corrupt objects); --repair orphans",
  help: `Usage: housekeeping verify [options]

Checks that the index and the object store agree, on the same configuration as \`archive\`:
  missing            an index row whose object is not in the store ("possibly in flight" when the row was
                     archived less than --grace ago: the archiver writes the object just after the row)
  size_mismatch      the object's size differs from the row's
  checksum_mismatch  the object's CRC-32 differs from the row's
  undecodable        the object is not a valid archive object (either layout)
  identity_mismatch  the object names another uuid, topic, timestamp, partition or offset than its row
  content_mismatch   the value's CRC-32 or the content digest differs from the row's or from the object's own
  orphan             an object in the store with no index row
  stray              an object whose uuid is indexed under another key
With --manifest, also manifest_missing, manifest_coordinates, manifest_receipt_missing, manifest_identity,
manifest_content, manifest_vetoed_archived and manifest_unexpected (see README).
Problems go to stdout as they are found, then a summary; progress goes to stderr. Nothing is ever deleted.

Options:
${optionsHelp(VERIFY_OPTIONS)}
${SELECTION_HELP}
${settingsHelp()}

Exit status: 0 when everything checked is consistent (or every problem found was repaired), 1 when a problem
remains or the run was interrupted, 2 for usage errors.

Examples:
  housekeeping verify                                     # everything: every row, every object
  housekeeping verify --topic gcn.circular --since 7d     # one topic, records of the last week
  housekeeping verify --sample 1000 --skip-orphans        # a quick health check of 1000 random rows
  housekeeping verify --repair --json > verify.jsonl      # index orphans, keep a machine-readable report
  housekeeping verify --manifest mock.jsonl               # did the archive keep what mock-hop sent?
`,
  async run(argv, ctx) {
    const options = parseVerifyArgs(argv, ctx.env, BigInt(Date.now()));
    if (options.printConfig) return printConfig(ctx, options.settings, verifyExtras(options));
    const manifest = options.manifest === undefined ? undefined : await readManifest(options.manifest);
    return await withReadOnlyServices(
      "verify",
      options.settings,
      ctx,
      (services) => runVerify(options, manifest, services, ctx),
    );
  },
};

function verifyExtras(o: VerifyOptions): Record<string, unknown> {
  return { selection: describeSelection(o.filter), ...printableOptions(VERIFY_OPTIONS, o.own) };
}

async function readManifest(path: string): Promise<ManifestLine[]> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    throw hkError("MANIFEST_INVALID", `cannot read manifest ${path}: ${errorMessage(e)}; fix --manifest`);
  }
  const lines = parseManifest(text, path);
  validateManifest(lines, path);
  return lines;
}

/** One problem as a line of text: kind, key, what is wrong. */
export function formatProblem(p: Problem): string {
  const suffix = p.repaired === true ? " [repaired]" : "";
  return `${p.kind.padEnd(17)} ${p.key ?? p.uuid ?? "-"}: ${p.detail}${suffix}\n`;
}

/** The closing lines of a text report. */
export function formatSummary(
  s: VerifySummary,
  manifest: ManifestSummary | undefined,
  unrepaired: number,
): string {
  const lines = [
    `checked ${s.rowsChecked} index rows, listed ${s.objectsListed} objects` +
    (s.foreignKeys > 0 ? ` (${s.foreignKeys} with keys housekeeping does not write, skipped)` : ""),
  ];
  if (manifest !== undefined) {
    lines.push(
      `manifest: ${manifest.lines} lines, ${manifest.messages} messages, ${manifest.receipts} receipts expected, ` +
        `${manifest.vetoed} vetoed`,
    );
  }
  const kinds = Object.entries(s.problems).map(([k, n]) => `${k} ${n}`);
  if (kinds.length > 0) lines.push(`problems: ${kinds.join(", ")}`);
  if (s.inFlight > 0) {
    lines.push(`${s.inFlight} missing objects are possibly in flight: run verify again later`);
  }
  if (s.repaired > 0) lines.push(`repaired: ${s.repaired} orphans indexed`);
  if (s.quarantined > 0) {
    lines.push(
      `quarantined: ${s.quarantined} records archived without their header-derived columns (not problems)`,
    );
  }
  if (s.interrupted) lines.push("interrupted: the check is incomplete");
  lines.push(unrepaired === 0 && !s.interrupted ? "OK" : `NOT OK: ${unrepaired} problems remain`);
  return lines.join("\n") + "\n";
}

async function runVerify(
  options: VerifyOptions,
  manifest: ManifestLine[] | undefined,
  services: Services,
  ctx: CommandContext,
): Promise<number> {
  const filter: SelectFilter = { ...options.filter };
  if (manifest !== undefined && filter.topics === undefined) {
    filter.topics = [...new Set(manifest.filter((l) => !l.vetoed).map((l) => l.topic))];
  }
  const report = (p: Problem) => ctx.stdout(options.json ? toJson(p) + "\n" : formatProblem(p));
  const progress = (label: string, total?: number) =>
    commandProgress(ctx, { label, quiet: options.quiet, ...(total !== undefined ? { total } : {}) });
  const summary = await verifyArchive(
    {
      store: services.store,
      index: services.index,
      log: services.log,
      signal: ctx.shutdown,
      now: () => BigInt(Date.now()),
      isPublic: publicTopicsSetting("verify", options.settings).isPublic,
    },
    {
      filter,
      ...(options.sample !== undefined ? { sample: options.sample } : {}),
      repair: options.repair,
      orphans: options.orphans,
      quick: options.quick,
      concurrency: options.concurrency,
      graceMs: options.graceMs,
    },
    report,
    (phase, total) => progress(`verify ${phase}`, total),
  );
  let manifestSummary: ManifestSummary | undefined;
  if (manifest !== undefined && !ctx.shutdown.aborted) {
    manifestSummary = await checkManifest(
      { store: services.store, index: services.index },
      manifest,
      (p) => {
        summary.problems[p.kind] = (summary.problems[p.kind] ?? 0) + 1;
        report(p);
      },
      progress("verify manifest", manifest.length),
    );
  }
  const found = Object.values(summary.problems).reduce((a, b) => a + b, 0);
  const unrepaired = found - summary.repaired;
  if (options.json) {
    ctx.stdout(
      toJson({
        summary: { ...summary, ...(manifestSummary ? { manifest: manifestSummary } : {}), unrepaired },
        ok: unrepaired === 0 && !summary.interrupted,
      }) + "\n",
    );
  } else ctx.stdout(formatSummary(summary, manifestSummary, unrepaired));
  return unrepaired === 0 && !summary.interrupted ? 0 : 1;
}
