// The one place that turns a command's settings into its topic policy: hopauth's flags with --hopauth-url, else the
// static policy of the settings (veto list, --public-topics, --index-text). `archive` runs it; `topics`, `status`
// and `db index-text` fetch it once, so that every command decides a topic as the archive does.
import { hkError } from "../runtime/errors.ts";
import type { Logger } from "../runtime/log.ts";
import type { Metrics } from "../runtime/metrics.ts";
import { createStaticPolicy, type TopicPolicy } from "../topics/policy.ts";
import { createHopauthPolicy, DEFAULT_POLICY_REFRESH_SECONDS } from "../topics/policy_hopauth.ts";
import type { PublicTopics, TopicList } from "../topics/public_topics.ts";
import type { VetoList } from "../topics/veto.ts";
import type { ResolvedSettings } from "./config.ts";
import { type HopauthSettings, hopauthSettings } from "./hopauth_settings.ts";
import { publicTopicsSetting, topicListSetting } from "./services.ts";

export interface PolicySettings {
  /** hopauth's API and credential (--hopauth-url): the policy comes from there instead of the lists below. */
  hopauth?: HopauthSettings;
  /** --public-topics: the static policy's `public`. */
  publicTopics: PublicTopics;
  /** --index-text: the static policy's text indexing. */
  indexText: TopicList;
  /** How often hopauth is asked again (--policy-refresh); one-shot commands fetch once. */
  policyRefreshMs?: number;
}

/** A command's policy settings: --hopauth-url and its credential, else --public-topics and --index-text. */
export function policySettings(
  command: string,
  values: Record<string, unknown>,
  env: Record<string, string | undefined>,
  settings: ResolvedSettings,
): PolicySettings {
  const hopauth = hopauthSettings(command, values, env, settings);
  return {
    ...(hopauth === undefined ? {} : { hopauth }),
    publicTopics: publicTopicsSetting(command, settings),
    indexText: topicListSetting(command, settings, "index-text"),
  };
}

/** The policy of `settings`, not yet fetched: hopauth's says nothing until its first refresh. */
export function createTopicPolicy(
  settings: PolicySettings,
  veto: VetoList,
  log: Logger,
  metrics?: Metrics,
): TopicPolicy & { refresh?: () => Promise<string> } {
  const { hopauth, publicTopics, indexText } = settings;
  if (hopauth === undefined) return createStaticPolicy({ veto, publicTopics, indexText });
  for (const warning of hopauth.warnings ?? []) log.warn(warning);
  const ignored = [
    ...(publicTopics.entries.length > 0 ? ["--public-topics"] : []),
    ...(indexText.entries.length > 0 ? ["--index-text"] : []),
  ];
  if (ignored.length > 0) {
    log.warn("ignored: hopauth's topic flags decide instead (--hopauth-url)", { ignored });
  }
  return createHopauthPolicy({
    url: hopauth.url,
    credential: hopauth.credential,
    veto,
    refreshMs: settings.policyRefreshMs ?? DEFAULT_POLICY_REFRESH_SECONDS * 1000,
    log,
    ...(metrics === undefined ? {} : { metrics }),
  });
}

/**
 * The policy of `settings` as it stands now, for a command that runs once: hopauth's is fetched once, and a
 * hopauth that does not answer (or refuses the credential) is a coded error, never an empty policy.
 */
export async function fetchTopicPolicy(
  settings: PolicySettings,
  veto: VetoList,
  log: Logger,
): Promise<TopicPolicy> {
  const policy = createTopicPolicy(settings, veto, log);
  if (policy.refresh === undefined) return policy;
  const outcome = await policy.refresh();
  if (outcome !== "ok") {
    throw hkError(
      outcome === "auth_failed" ? "HOPAUTH_AUTH" : "HOPAUTH_FAILED",
      `cannot fetch the topic policy: ${policy.status().lastError}`,
    );
  }
  return policy;
}
