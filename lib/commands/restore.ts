// `restore`: re-publishes archived records to Kafka, bit for bit. The index selects (the bucket is never listed),
// objects are fetched concurrently and checked, records go out in their original order (lib/restore/).
import type { Command } from "../cli/command.ts";
import { settingsHelp } from "../cli/config.ts";
import { SELECTION_HELP } from "../cli/selection.ts";
import { connectServices, printConfig } from "../cli/services.ts";
import { parseRestoreArgs, restoreExtras } from "../restore/args.ts";
import { restore } from "../restore/restore.ts";

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
  --topic-regex RE     source topics matching a PostgreSQL regular expression ('.*': everything)
  --uuid-file FILE     UUIDs, one per line ('#' comments allowed); UUIDs may also be given as arguments
  --from-offset N      source offset >= N
  --to-offset N        source offset < N
  A selection needs at least a topic, a topic regex or UUIDs. With --checkpoint, give absolute times: an age
  (--since 24h) is another range on the next run, and the checkpoint would refuse it.

Target:
  --rename FROM=TO         publish topic FROM as TO (repeatable)
  --to-prefix P            publish every other topic as P<topic>
  --create-topics          create missing target topics with the source topic's partition count (the source
                           cluster's when it can be asked, else the index's highest partition + 1)
  --allow-loop             allow a target topic that the archiver itself archives (see below)
  --target-brokers, --target-username, --target-password, --target-sasl-mechanism, --target-security-protocol,
  --target-ca-file, --target-hop-auth
                           the target cluster's connection, like the options without "target-" [env
                           RESTORE_KAFKA_BROKERS, RESTORE_KAFKA_USERNAME, RESTORE_KAFKA_PASSWORD,
                           RESTORE_KAFKA_SASL_MECHANISM, RESTORE_KAFKA_SECURITY_PROTOCOL, RESTORE_KAFKA_CA_FILE,
                           RESTORE_HOP_AUTH_FILE]; each defaults to the archive's (source) setting

Partitions: a record goes to its own partition number when the target topic has it. Otherwise (fallback) it goes
to partition (number mod target partition count), so each source partition still lands, in order, in one target
partition. Records of the original archiver, which stored no partition or offset, go to partition 0 in timestamp
order, before the records that have offsets.

Loop guard: the archiver archives every topic of its cluster that is not on the veto list. A target topic on the
same cluster (same broker address or cluster id) that is not vetoed would be archived again, so restore refuses it
(RESTORE_LOOP) unless --allow-loop is given. Restore into renamed topics on the veto list, or another cluster.

Operation:
  --dry-run                print what would be sent (records, stored bytes, time span per topic and partition),
                           and send nothing
  --max-rate N             at most N records per second (0.001 to 1e9)
  --max-bytes-rate N       at most N bytes (key + value + headers) per second (1024 to 1e12)
  --checkpoint FILE        record progress in FILE (JSON, replaced atomically after every acknowledged request);
                           an interrupted restore re-run with the same FILE and selection continues after the last
                           acknowledged record; records a hard kill left unrecorded are found in the target (it
                           reads back what lies beyond the end offsets FILE holds) and not sent twice
  --on-bad-object MODE     stop (default): a missing or damaged object stops the restore before it;
                           skip: report it (log and summary) and go on
  --fetch-concurrency N    objects fetched at once (default 16)
  --max-inflight-mib N     MiB of objects held at once (default 64)
  --progress MODE          auto (default: a bar when stderr is a terminal, else JSON lines every 10 s), bar,
                           json or none
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
