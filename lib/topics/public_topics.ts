// Which topics are public: the `public` column that archive-api reads to serve a message without authentication.
// archive-core asked SCiMMA's hopauth (`publicly_readable` of each topic); this archiver takes the list from its
// settings (--public-topics, read by lib/cli/services.ts), shared by `archive` and `serve`.
import { hkError } from "../runtime/errors.ts";
import { offloadedFrom } from "./names.ts";

/** Characters of a Kafka topic name: an entry made only of these is a name, anything else a pattern. */
const TOPIC_NAME = /^[A-Za-z0-9._-]+$/;

export interface PublicTopics {
  /** True when messages of `topic` are public. */
  isPublic(topic: string): boolean;
  /** The list as given (for logs and --print-config). */
  readonly entries: readonly string[];
}

/**
 * `list` is comma-separated: exact topic names (`gcn.circular`), or regular expressions matching a whole topic
 * name (`gcn\..*`, `lvk\.(alert|test)`). An entry with only topic-name characters is a name, so `a.b` matches the
 * topic `a.b` only, never `aXb`. Commas cannot be part of a pattern.
 */
export function parsePublicTopics(list: string | undefined): PublicTopics {
  const entries = (list ?? "").split(",").map((e) => e.trim()).filter((e) => e !== "");
  const names = new Set<string>();
  const patterns: RegExp[] = [];
  for (const entry of entries) {
    if (TOPIC_NAME.test(entry)) {
      names.add(entry);
      continue;
    }
    try {
      patterns.push(new RegExp(`^(?:${entry})$`, "u"));
    } catch (e) {
      throw hkError(
        "CONFIG_INVALID",
        `--public-topics: "${entry}" is neither a topic name nor a valid regular expression ` +
          `(${
            (e as Error).message
          }); give comma-separated names or whole-name patterns, e.g. gcn.circular,lvk\\..*`,
      );
    }
  }
  const matches = (topic: string) => names.has(topic) || patterns.some((p) => p.test(topic));
  return {
    entries,
    // archive-core's large-message offload pseudo-topics are public when their topic is.
    isPublic: (topic) => matches(topic) || matches(offloadedFrom(topic)),
  };
}
