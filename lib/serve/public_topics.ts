// Which topics anyone may read without credentials: `--public-topics LIST`, comma separated, each entry an exact
// topic name or a whole-name regular expression. An entry made only of topic-name characters is a name, compared
// literally (gcn.circular never matches gcnXcircular); anything else is a pattern. The same rule as the index's
// `public` column will use (issue 13's lib/public_topics.ts), which this module is to give way to.
import { hkError } from "../errors.ts";

const TOPIC_NAME = /^[A-Za-z0-9._-]+$/;

export interface PublicTopics {
  /** The list as given, for --print-config and logs. */
  readonly entries: readonly string[];
  isPublic(topic: string): boolean;
}

/** Pure: the setting's text -> matcher. Throws CONFIG_INVALID naming a pattern that does not compile. */
export function parsePublicTopics(text: string | undefined): PublicTopics {
  const entries = (text ?? "").split(",").map((e) => e.trim()).filter((e) => e !== "");
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
        `--public-topics: ${JSON.stringify(entry)} is not a valid regular expression (${
          (e as Error).message
        })`,
      );
    }
  }
  return {
    entries,
    isPublic: (topic) => names.has(topic) || patterns.some((p) => p.test(topic)),
  };
}
