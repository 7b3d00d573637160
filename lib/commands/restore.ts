// `restore`: re-publishes archived records to Kafka, bit for bit. The index selects (the bucket is never listed),
// objects are fetched concurrently and checked, records go out in their original order (lib/restore/).
import type { Command } from "../cli/command.ts";
import { settingsHelp } from "../cli/config.ts";
import { SELECTION_HELP } from "../cli/selection.ts";
import { connectServices, printConfig } from "../cli/services.ts";
import { optionsHelp } from "../cli/options.ts";
import { parseRestoreArgs, RESTORE_OPTIONS, restoreExtras, TARGET_SETTINGS } from "../restore/args.ts";
import { restore } from "../restore/restore.ts";

/** Where the help of the target and operation options starts: their names are longer. */
const COLUMN = 27;

/** The --target-X options, one row for all: they take the values of the options without "target-". */
function targetConnectionHelp(): string {
  const flags = TARGET_SETTINGS.map((s) => `--target-${s.flag}`).join(", ");
  const envs = TARGET_SETTINGS.map((s) => s.env).join(", ");
  return [
    wrap(flags, "  "),
    wrap(
      `the target cluster's connection, like the options without "target-" [env ${envs}]; each defaults to ` +
        "the archive's (source) setting",
      " ".repeat(COLUMN),
    ),
  ].join("\n");
}

/** Words in lines of at most 116 characters (as the rest of the help), each starting with `indent`. */
function wrap(text: string, indent: string): string {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(" ")) {
    if (line !== "" && indent.length + line.length + 1 + word.length > 116) {
      lines.push(indent + line);
      line = word;
    } else line = line === "" ? word : `${line} ${word}`;
  }
  return [...lines, indent + line].join("\n");
}

export const command: Command = {
  name: "restore",
  summary: "re-publish archived records to Kafka, bit for bit (selected from the index)",
  help: `Usage: housekeeping restore SELECTION [options] [UUID...]

Re-publishes archived records to Kafka exactly as they were received: value, key, header list (order, duplicates
and null values kept), timestamp (as CreateTime) and partition, in the original offset order within each
partition. The index selects what to send (the bucket is never listed); objects are fetched concurrently, and each
is checked against its index row (size, CRC-32, record identity, value CRC-32) before anything is published. Both
object layouts are read, including the original housekeeping's.

${SELECTION_HELP}
${optionsHelp(RESTORE_OPTIONS)}
  A selection needs at least a topic, a topic regex or UUIDs. With --checkpoint, give absolute times: an age
  (--since 24h) is another range on the next run, and the checkpoint would refuse it.

Target:
${optionsHelp(RESTORE_OPTIONS, { group: "target", column: COLUMN })}
${targetConnectionHelp()}

Partitions: a record goes to its own partition number when the target topic has it. Otherwise (fallback) it goes
to partition (number mod target partition count), so each source partition still lands, in order, in one target
partition. Records of the original archiver, which stored no partition or offset, go to partition 0 in timestamp
order, before the records that have offsets.

Loop guard: the archiver archives every topic of its cluster that is not on the veto list. A target topic on the
same cluster (same broker address or cluster id) that is not vetoed would be archived again, so restore refuses it
(RESTORE_LOOP) unless --allow-loop is given. Restore into renamed topics on the veto list, or another cluster.

Operation:
${optionsHelp(RESTORE_OPTIONS, { group: "operation", column: COLUMN })}
Records are sent by an idempotent producer, up to 5 produce requests in flight per broker, in order; the
summary (JSON) goes to stdout.

Source, index and bucket:
${settingsHelp()}

Examples:
  housekeeping restore --topic gcn.circular --since 2024-05-01 --until 2024-06-01 --to-prefix restored. --dry-run
  RESTORE_KAFKA_BROKERS=kafka.test:9092 housekeeping restore --topic-regex '^gcn\\.' --create-topics \\
      --checkpoint gcn.checkpoint --max-rate 500
  housekeeping restore --uuid-file lost.txt --rename gcn.circular=gcn.circular.replay --on-bad-object skip
`,
  async run(argv, ctx) {
    const options = parseRestoreArgs(argv, ctx.env);
    if (options.printConfig) return printConfig(ctx, options.settings, restoreExtras(options));
    const services = await connectServices(options.settings, ctx, {
      clientId: "housekeeping-restore",
      migrate: false,
    });
    try {
      return await restore(options, services, ctx);
    } finally {
      await services.close();
    }
  },
};
