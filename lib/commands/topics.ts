// `topics`: which topics `archive` would archive right now, and why each other one is not archived.
import type { Command } from "../cli/command.ts";
import { CONNECTION_OPTIONS, parseCommandArgs, settingsHelp } from "../cli/config.ts";
import { type CommandSettings, commandSettings, openKafka, printConfig } from "../cli/services.ts";
import { renderTable, toJson } from "../cli/output.ts";
import { optionsHelp, optionSpec, type OptionTable, printableOptions, readOptions } from "../cli/options.ts";
import { surveyTopics, type TopicReport } from "../topics/topics.ts";

const TOPICS_OPTIONS = {
  json: { type: "boolean", help: 'JSON lines instead of a table: {"topic", "archived", "reason", "detail"}' },
} as const satisfies OptionTable;

const OPTIONS = { ...CONNECTION_OPTIONS, ...optionSpec(TOPICS_OPTIONS) };

export interface TopicsOptions extends CommandSettings {
  json: boolean;
}

/** Pure: argv + environment (+ config file text) -> options. */
export function parseTopicsArgs(
  argv: string[],
  env: Record<string, string | undefined>,
  readConfig: (path: string) => string = Deno.readTextFileSync,
): TopicsOptions {
  const { values } = parseCommandArgs("topics", argv, OPTIONS);
  return {
    ...commandSettings(values, env, readConfig),
    ...readOptions("topics", TOPICS_OPTIONS, values, env),
  };
}

/** Pure: the survey as JSON lines' objects: {topic, archived, reason, detail}. */
export function topicsJson(reports: TopicReport[]) {
  return reports.map(({ topic, verdict }) => ({
    topic,
    archived: verdict.archive,
    reason: verdict.archive ? null : verdict.reason,
    detail: verdict.archive ? null : verdict.detail,
  }));
}

/** Pure: the survey as a table, archived topics first. */
export function topicsTable(reports: TopicReport[]): string {
  const rows = topicsJson(reports)
    .sort((a, b) => Number(b.archived) - Number(a.archived) || a.topic.localeCompare(b.topic))
    .map((r) => [r.topic, r.archived ? "yes" : "no", r.archived ? "" : `${r.reason}: ${r.detail}`]);
  const archived = reports.filter((r) => r.verdict.archive).length;
  return renderTable([{ title: "TOPIC" }, { title: "ARCHIVED" }, { title: "WHY NOT" }], rows) +
    `\n${archived} of ${reports.length} readable topics are archived\n`;
}

export const command: Command = {
  name: "topics",
  summary: "which topics would be archived now (readable minus veto list) and why the others are not",
  help: `Usage: housekeeping topics [--json] [options]

Lists every topic the Kafka credential can read, as \`archive\` sees them at start-up, and whether it is archived.
A topic is not archived when it is a Kafka internal topic (name starts with "__") or is on the veto list (by
name or by pattern; --veto / VETO_FILE, else ./veto.yaml, else the built-in list with sys.heartbeat).
Topics the credential cannot read are not listed at all: Kafka does not show them.

Options:
${optionsHelp(TOPICS_OPTIONS)}
${settingsHelp()}

Exit status: 0 on success, 1 on errors (Kafka unreachable, bad veto list), 2 for usage errors.

Examples:
  housekeeping topics
  housekeeping topics --veto ./veto.yaml --json | jq -r 'select(.archived) | .topic'
`,
  async run(argv, ctx) {
    const options = parseTopicsArgs(argv, ctx.env);
    if (options.printConfig) {
      return printConfig(ctx, options.settings, printableOptions(TOPICS_OPTIONS, options));
    }
    const { kafka, veto } = await openKafka(options.settings, ctx, "housekeeping-topics");
    const admin = kafka.admin();
    await admin.connect();
    try {
      const reports = await surveyTopics(admin, veto);
      if (options.json) ctx.stdout(topicsJson(reports).map((r) => toJson(r) + "\n").join(""));
      else ctx.stdout(topicsTable(reports));
      return 0;
    } finally {
      await admin.disconnect();
    }
  },
};
