// Which topics are public (the `public` column that archive-api reads to serve a message without authentication),
// and which have their text indexed for search (message_ts). archive-core asked SCiMMA's hopauth
// (`publicly_readable`, `index_archived_text` of each topic); this archiver takes the lists from its settings
// (--public-topics, shared by `archive`, `serve` and `verify`; --index-text, read by `archive` and `db index-text`;
// both read by lib/cli/services.ts).
import { hkError } from "../runtime/errors.ts";
import { offloadedFrom } from "./names.ts";

/** Characters of a Kafka topic name: an entry made only of these is a name, anything else a pattern. */
const TOPIC_NAME = /^[A-Za-z0-9._-]+$/;

/** A setting's list of topics. */
export interface TopicList {
  /** True when `topic` (or, for `<topic>+oversized`, its topic) is on the list. */
  has(topic: string): boolean;
  /** The list as given (for logs and --print-config). */
  readonly entries: readonly string[];
}

export interface PublicTopics {
  /** True when messages of `topic` are public. */
  isPublic(topic: string): boolean;
  /** The list as given (for logs and --print-config). */
  readonly entries: readonly string[];
}

/**
 * `list` is comma-separated: exact topic names (`gcn.circular`), regular expressions matching a whole topic name
 * (`gcn\..*`, `lvk\.(alert|test)`), or `*` for every topic. An entry with only topic-name characters is a name, so
 * `a.b` matches the topic `a.b` only, never `aXb`. Commas cannot be part of a pattern. `flag` names the setting
 * in errors.
 */
export function parseTopicList(list: string | undefined, flag = "public-topics"): TopicList {
  const entries = (list ?? "").split(",").map((e) => e.trim()).filter((e) => e !== "");
  const names = new Set<string>();
  const patterns: RegExp[] = [];
  for (const entry of entries) {
    if (TOPIC_NAME.test(entry)) {
      names.add(entry);
      continue;
    }
    try {
      patterns.push(entry === "*" ? /^/ : new RegExp(`^(?:${entry})$`, "u"));
    } catch (e) {
      throw hkError(
        "CONFIG_INVALID",
        `--${flag}: "${entry}" is neither a topic name nor a valid regular expression ` +
          `(${
            (e as Error).message
          }); give comma-separated names or whole-name patterns, e.g. gcn.circular,lvk\\..*`,
      );
    }
  }
  const matches = (topic: string) => names.has(topic) || patterns.some((p) => p.test(topic));
  return {
    entries,
    // archive-core's large-message offload pseudo-topics follow their topic.
    has: (topic) => matches(topic) || matches(offloadedFrom(topic)),
  };
}

export function parsePublicTopics(list: string | undefined): PublicTopics {
  const topics = parseTopicList(list, "public-topics");
  return { entries: topics.entries, isPublic: topics.has };
}
