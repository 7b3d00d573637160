// What the archive does with each topic: archive it at all, mark its messages public, index their text. One
// interface with two sources: the static one (the veto list, --public-topics, --index-text: the settings) and
// hopauth's per-topic flags (lib/topics/policy_hopauth.ts), as archive-core takes them from scimma-admin.
import { OFFLOAD_SUFFIX, offloadedFrom } from "./names.ts";
import type { PublicTopics, TopicList } from "./public_topics.ts";
import { judgeTopic, type VetoList } from "./veto.ts";

export type PolicySourceName = "static" | "hopauth";

/** Why a topic is or is not archived, as a stable word (`topics --json`'s "reason"). */
export type DecisionCategory =
  | "archived"
  | "internal"
  | "vetoed"
  | "not_listed"
  | "not_archivable"
  | "unreadable";

export interface TopicDecision {
  archive: boolean;
  category: DecisionCategory;
  public: boolean;
  indexText: boolean;
  /** Where the decision came from: "static", "hopauth", or "hopauth (stale)" while hopauth cannot be reached. */
  source: string;
  /** Why, in words an operator can act on. */
  reason: string;
}

export interface PolicyStatus {
  source: PolicySourceName;
  /** hopauth: when the policy in use was fetched (ms since the epoch); undefined before the first fetch. */
  fetchedAt?: number;
  /** hopauth: the last refresh failed, so an older policy is in use. */
  stale?: boolean;
  /** hopauth: why the last refresh failed. */
  lastError?: string;
}

export interface TopicPolicy {
  readonly source: PolicySourceName;
  /**
   * The decision for `topic` (or a `<topic>+oversized` pseudo-topic, which follows its topic). `readable`: whether
   * the Kafka credential can read it; the archive only ever sees readable topics, `topics` shows the others too.
   */
  decide(topic: string, readable?: boolean): TopicDecision;
  /** Topics the source itself names (hopauth's list): `topics` shows those Kafka does not list. */
  named(): string[];
  /** Bumped whenever a refresh changed any decision: the archive re-checks its topic set then. */
  readonly version: number;
  status(): PolicyStatus;
}

/** hopauth's per-topic flags, with scimma-admin's field names (KafkaTopic, serializers/v1.py). */
export interface HopauthTopicFlags {
  archivable: boolean;
  publicly_readable: boolean;
  index_archived_text: boolean;
}

/** Topics remembered at most: `serve`'s uploads name topics of their own choosing, so the cache must be bounded. */
const CACHED_TOPICS = 4096;

/**
 * `compute` remembered per readable topic: the archive asks for every record it stores (public, then text), and
 * the veto list's patterns are regular expressions. `clear` forgets everything, for a policy that changed.
 */
export function decisionCache(compute: (topic: string, readable: boolean) => TopicDecision) {
  let cache = new Map<string, TopicDecision>();
  return {
    decide(topic: string, readable = true): TopicDecision {
      if (!readable) return compute(topic, false);
      let d = cache.get(topic);
      if (d === undefined) {
        if (cache.size >= CACHED_TOPICS) cache = new Map();
        cache.set(topic, d = compute(topic, true));
      }
      return d;
    },
    clear: () => cache = new Map(),
  };
}

/** The pseudo-topic note: decisions about `<topic>+oversized` are its topic's. */
function follows(topic: string, base: string, reason: string): string {
  return topic === base ? reason : `${reason} (${OFFLOAD_SUFFIX} follows ${base})`;
}

/**
 * The decision table for hopauth (archive-core: consumer_api.py's refresh_url and decision_api.py's Decider):
 * archived only when readable, not internal, not vetoed and `archivable`; a topic hopauth does not list is neither
 * archived, public nor indexed. `public` and `indexText` are hopauth's flags whatever the archive decision, as
 * archive-core's Decider answers them (they matter for `serve`'s uploads to `+oversized` too).
 */
export function decideByHopauth(
  topic: string,
  readable: boolean,
  veto: VetoList,
  flags: ReadonlyMap<string, HopauthTopicFlags>,
  source: string,
): TopicDecision {
  const base = offloadedFrom(topic);
  const entry = flags.get(base);
  const verdict = judgeTopic(veto, base);
  const flagsOf = {
    public: entry?.publicly_readable ?? false,
    indexText: entry?.index_archived_text ?? false,
  };
  const decision = (category: DecisionCategory, why: string): TopicDecision => ({
    archive: category === "archived",
    category,
    ...flagsOf,
    source,
    reason: follows(topic, base, why),
  });
  if (!verdict.archive) return decision(verdict.reason, verdict.detail);
  if (entry === undefined) return decision("not_listed", "hopauth does not list it");
  if (!entry.archivable) return decision("not_archivable", "not archivable in hopauth");
  if (!readable) {
    return decision("unreadable", "archivable in hopauth, but this Kafka credential cannot read it");
  }
  return decision("archived", "archivable in hopauth");
}

export interface StaticPolicyOptions {
  veto: VetoList;
  publicTopics: PublicTopics;
  indexText: TopicList;
}

/** Without hopauth: every readable topic but the internal and vetoed ones; public and indexed by the settings. */
export function createStaticPolicy(options: StaticPolicyOptions): TopicPolicy {
  const { veto, publicTopics, indexText } = options;
  const decisions = decisionCache((topic, readable) => {
    const base = offloadedFrom(topic);
    const verdict = judgeTopic(veto, base);
    const decision = (category: DecisionCategory, why: string): TopicDecision => ({
      archive: category === "archived",
      category,
      public: publicTopics.isPublic(topic),
      indexText: indexText.has(topic),
      source: "static",
      reason: follows(topic, base, why),
    });
    if (!verdict.archive) return decision(verdict.reason, verdict.detail);
    if (!readable) return decision("unreadable", "this Kafka credential cannot read it");
    return decision("archived", "readable and not vetoed");
  });
  return {
    source: "static",
    version: 0,
    named: () => [],
    status: () => ({ source: "static" }),
    decide: decisions.decide,
  };
}
