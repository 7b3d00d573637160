// `topics`: what `archive` would do with each topic right now (archive it, mark it public, index its text), and
// why, with the policy that decides: the settings (veto list, --public-topics, --index-text) or hopauth's flags.
import type { Command } from "../cli/command.ts";
import { CONNECTION_OPTIONS, parseCommandArgs, settingsHelp } from "../cli/config.ts";
import { type CommandSettings, commandSettings, openKafka, printConfig } from "../cli/services.ts";
import { renderTable, toJson } from "../cli/output.ts";
import { optionsHelp, optionSpec, type OptionTable, readOptions } from "../cli/options.ts";
import { HOPAUTH_OPTIONS } from "../cli/hopauth_settings.ts";
import type { PolicyStatus } from "../topics/policy.ts";
import { fetchTopicPolicy, type PolicySettings, policySettings } from "../cli/topic_policy.ts";
import { judgeTopics, type PolicyReport } from "../topics/topics.ts";

const TOPICS_OPTIONS = {
  json: {
    type: "boolean",
    help: [
      'JSON lines instead of a table: {"topic", "readable", "archived", "public", "index_text",',
      '"source", "reason", "detail"}; reason (null when archived) is one of internal, vetoed,',
      "not_listed, not_archivable, unreadable",
    ],
  },
  ...HOPAUTH_OPTIONS,
} as const satisfies OptionTable;

const OPTIONS = { ...CONNECTION_OPTIONS, ...optionSpec(TOPICS_OPTIONS) };

export interface TopicsOptions extends CommandSettings, PolicySettings {
  json: boolean;
}

/** Pure: argv + environment (+ config file text) -> options. */
export function parseTopicsArgs(
  argv: string[],
  env: Record<string, string | undefined>,
  readConfig: (path: string) => string = Deno.readTextFileSync,
): TopicsOptions {
  const { values } = parseCommandArgs("topics", argv, OPTIONS);
  const settings = commandSettings(values, env, readConfig);
  return {
    ...settings,
    json: readOptions("topics", TOPICS_OPTIONS, values, env).json,
    ...policySettings("topics", values, env, settings.settings),
  };
}

/** Pure: the survey as JSON lines' objects. `reason` is a stable word, `detail` says it for people. */
export function topicsJson(reports: PolicyReport[]) {
  return reports.map(({ topic, readable, decision: d }) => ({
    topic,
    readable,
    archived: d.archive,
    public: d.public,
    index_text: d.indexText,
    source: d.source,
    // As before the policy sources: null for archived topics, so `select(.reason == null)` still selects them.
    reason: d.archive ? null : d.category,
    detail: d.archive ? null : d.reason,
  }));
}

/** Pure: the policy source in one line. */
export function policyLine(status: PolicyStatus, now = Date.now()): string {
  if (status.source === "static") return "policy: static (veto list, --public-topics, --index-text)";
  const age = status.fetchedAt === undefined
    ? "never fetched"
    : `fetched ${Math.round((now - status.fetchedAt) / 1000)} s ago`;
  return `policy: hopauth, ${age}${status.stale ? ` (stale: ${status.lastError})` : ""}`;
}

/** Pure: the survey as a table, archived topics first. */
export function topicsTable(reports: PolicyReport[], status: PolicyStatus): string {
  const yes = (b: boolean) => b ? "yes" : "no";
  const sorted = [...reports].sort((a, b) =>
    Number(b.decision.archive) - Number(a.decision.archive) || a.topic.localeCompare(b.topic)
  );
  const why = sorted.map((r) =>
    r.decision.archive ? r.decision.reason : `${r.decision.category}: ${r.decision.reason}`
  );
  const rows = topicsJson(sorted)
    .map((r, i) => [r.topic, yes(r.archived), yes(r.public), yes(r.index_text), r.source, why[i]!]);
  const archived = reports.filter((r) => r.decision.archive).length;
  const readable = reports.filter((r) => r.readable).length;
  return renderTable(
    [{ title: "TOPIC" }, { title: "ARCHIVED" }, { title: "PUBLIC" }, { title: "TEXT INDEXED" }, {
      title: "SOURCE",
    }, {
      title: "WHY",
    }],
    rows,
  ) + `\n${archived} of ${readable} readable topics are archived; ${policyLine(status)}\n`;
}

export const command: Command = {
  name: "topics",
  summary: "which topics would be archived now (readable minus veto list) and why the others are not",
  help: `Usage: housekeeping topics [--json] [options]

Lists every topic the Kafka credential can read, as \`archive\` sees them at start-up: whether it is archived, public
and text-indexed, which policy decided and why. Without --hopauth-url the settings decide: a topic is archived
unless it is a Kafka internal topic (name starts with "__") or is on the veto list (by name or by pattern; --veto /
VETO_FILE, else ./veto.yaml, else the built-in list with sys.heartbeat), public by --public-topics, indexed by
--index-text. With --hopauth-url, hopauth's flags decide (archivable, publicly_readable, index_archived_text) and
the veto list still applies; topics hopauth marks archivable that Kafka does not show are listed as unreadable.
Other topics the credential cannot read are not listed at all: Kafka does not show them.

Options:
${optionsHelp(TOPICS_OPTIONS)}
${settingsHelp()}

Exit status: 0 on success, 1 on errors (Kafka or hopauth unreachable, bad veto list), 2 for usage errors.

Examples:
  housekeeping topics
  housekeeping topics --veto ./veto.yaml --json | jq -r 'select(.archived) | .topic'
  HOPAUTH_USERNAME=archiver HOPAUTH_PASSWORD=... housekeeping topics --hopauth-url https://admin.hop.scimma.org/hopauth/api
`,
  async run(argv, ctx) {
    const options = parseTopicsArgs(argv, ctx.env);
    if (options.printConfig) {
      return printConfig(ctx, options.settings, {
        json: options.json,
        "hopauth-url": options.hopauth?.url ?? null,
        "hopauth-credential": options.hopauth?.credentialSource ?? null,
      });
    }
    const { kafka, veto, log } = await openKafka(options.settings, ctx, "housekeeping-topics");
    const policy = await fetchTopicPolicy(options, veto, log);
    const admin = kafka.admin();
    await admin.connect();
    try {
      const reports = judgeTopics(await admin.listTopics(), policy);
      if (options.json) ctx.stdout(topicsJson(reports).map((r) => toJson(r) + "\n").join(""));
      else ctx.stdout(topicsTable(reports, policy.status()));
      return 0;
    } finally {
      await admin.disconnect();
    }
  },
};
