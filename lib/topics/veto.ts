// Which topics are archived: everything readable, minus Kafka's internal topics, minus the veto list.
import YAML from "yaml";
import { errorMessage, hkError } from "../runtime/errors.ts";

/** Compiled into the binary so a laptop run without ./veto.yaml still skips the heartbeat. */
export const DEFAULT_VETO_YAML = "topics:\n  - sys.heartbeat\npatterns: []\n";

export interface VetoList {
  topics: Set<string>;
  patterns: RegExp[];
  source: string;
}

export type TopicVerdict =
  | { archive: true }
  | { archive: false; reason: "internal" | "vetoed"; detail: string };

/**
 * Accepts `{topics: [...], patterns: [...]}` or a bare list of names. Patterns match the WHOLE topic name, so
 * `gcn\..*` cannot accidentally veto `xgcn.foo`.
 */
export function parseVeto(text: string, source: string): VetoList {
  let doc: unknown;
  try {
    doc = YAML.parse(text);
  } catch (e) {
    throw hkError("VETO_INVALID", `veto list ${source} is not valid YAML: ${(e as Error).message}`);
  }
  const shapeError = () =>
    hkError(
      "VETO_INVALID",
      `veto list ${source} must be a list of topic names or a mapping with "topics" (names) and "patterns" (regular expressions)`,
    );
  let names: unknown = [];
  let patterns: unknown = [];
  if (doc === null || doc === undefined) names = [];
  else if (Array.isArray(doc)) names = doc;
  else if (typeof doc === "object") {
    const extra = Object.keys(doc).filter((k) => k !== "topics" && k !== "patterns");
    if (extra.length) throw shapeError();
    names = (doc as { topics?: unknown }).topics ?? [];
    patterns = (doc as { patterns?: unknown }).patterns ?? [];
  } else throw shapeError();
  if (!Array.isArray(names) || !Array.isArray(patterns)) throw shapeError();
  for (const n of names) {
    if (typeof n !== "string" || n === "") throw shapeError();
  }
  const compiled = patterns.map((p) => {
    if (typeof p !== "string") throw shapeError();
    try {
      return new RegExp(`^(?:${p})$`);
    } catch (e) {
      throw hkError("VETO_INVALID", `veto list ${source}: bad pattern "${p}": ${(e as Error).message}`);
    }
  });
  return { topics: new Set(names as string[]), patterns: compiled, source };
}

export function judgeTopic(veto: VetoList, topic: string): TopicVerdict {
  // Kafka reserves the double-underscore prefix for its own bookkeeping (__consumer_offsets, __cluster_metadata...).
  if (topic.startsWith("__")) return { archive: false, reason: "internal", detail: "Kafka internal topic" };
  if (veto.topics.has(topic)) return { archive: false, reason: "vetoed", detail: `listed in ${veto.source}` };
  const hit = veto.patterns.find((p) => p.test(topic));
  if (hit) return { archive: false, reason: "vetoed", detail: `matches ${hit.source} in ${veto.source}` };
  return { archive: true };
}

/** --veto / VETO_FILE, else ./veto.yaml when present, else the built-in list. */
export async function loadVeto(path: string | undefined): Promise<VetoList> {
  if (path !== undefined) return parseVeto(await readVetoFile(path, "fix --veto / VETO_FILE"), path);
  let text: string;
  try {
    text = await readVetoFile("veto.yaml", "fix or remove ./veto.yaml, or name another with --veto", true);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return parseVeto(DEFAULT_VETO_YAML, "the built-in veto list");
    throw e;
  }
  return parseVeto(text, "./veto.yaml");
}

/** The file's text; any failure a VETO_INVALID, but for a missing `optional` file (./veto.yaml): NotFound. */
async function readVetoFile(path: string, fix: string, optional = false): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound && optional) throw e;
    const why = e instanceof Deno.errors.NotFound
      ? "does not exist"
      : e instanceof Deno.errors.IsADirectory
      ? "is a directory, not a YAML file"
      : e instanceof Deno.errors.PermissionDenied
      ? "cannot be read (permission denied)"
      : `cannot be read: ${errorMessage(e)}`;
    throw hkError("VETO_INVALID", `veto file ${path} ${why}: ${fix}`, { cause: e });
  }
}
