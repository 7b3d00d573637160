// The source cluster as restore sees it: asked briefly for its cluster id and partition counts (it may be gone),
// and the loop guard that keeps restore from feeding the archiver its own records again.
import type { Admin } from "kafkajs";
import type { CommandContext } from "../cli/command.ts";
import type { ResolvedSettings } from "../cli/config.ts";
import { errorMessage } from "../runtime/errors.ts";
import { createKafka, type KafkaSettings } from "../kafka/client.ts";
import type { Logger } from "../runtime/log.ts";
import { kafkaSettings } from "../cli/services.ts";
import type { VetoList } from "../topics/veto.ts";
import type { RestoreOptions } from "./args.ts";
import { loopError, loopingTargets } from "./plan.ts";

/** Partition counts of `topics` on a cluster, as far as it can be asked; empty when it cannot. */
export async function partitionCounts(
  admin: Admin,
  topics: string[],
  log: Logger,
): Promise<Map<string, number>> {
  try {
    const existing = new Set(await admin.listTopics());
    const wanted = topics.filter((t) => existing.has(t));
    if (wanted.length === 0) return new Map();
    const { topics: meta } = await admin.fetchTopicMetadata({ topics: wanted });
    return new Map(meta.map((t) => [t.name, t.partitions.length]));
  } catch (e) {
    log.warn("cannot read the source topics' partition counts; using the index's", {
      error: errorMessage(e),
    });
    return new Map();
  }
}

/** The source cluster, asked briefly (it may be gone: restoring is what archives are for). */
export async function probeSource(
  settings: ResolvedSettings,
  ctx: CommandContext,
  log: Logger,
  topics: string[],
): Promise<{ clusterId: string | null; partitions: Map<string, number> }> {
  let admin: Admin | undefined;
  try {
    const { settings: ks } = await kafkaSettings(settings, ctx, "housekeeping-restore-probe");
    const probe: KafkaSettings = { ...ks, retries: 1, connectionTimeoutMs: 5000 };
    admin = createKafka(probe, log).admin();
    await admin.connect();
    const { clusterId } = await admin.describeCluster();
    return { clusterId, partitions: await partitionCounts(admin, topics, log) };
  } catch (e) {
    log.warn(
      "cannot reach the archive's own (source) cluster; the loop guard compares broker addresses only",
      {
        error: errorMessage(e),
      },
    );
    return { clusterId: null, partitions: new Map() };
  } finally {
    await admin?.disconnect().catch(() => {});
  }
}

/** Throws RESTORE_LOOP for target topics the archiver would archive again, unless --allow-loop. */
export function guardLoop(
  options: RestoreOptions,
  veto: VetoList,
  targets: string[],
  brokers: string[],
): void {
  if (options.allowLoop) return;
  const looping = loopingTargets(targets, veto);
  if (looping.length > 0) throw loopError(looping, brokers);
}
