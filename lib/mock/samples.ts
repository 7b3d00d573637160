// Payloads for mock-hop, made from the sample files in testdata/samples (shipped with the program) the way hop-client makes them:
// the bytes `hop publish -f <FORMAT> <file>` (hop.models load + serialize) would put on the wire, and the JSON
// envelope hop-client < 0.6 wrote instead. tests/integration/mock_hop_test.ts checks these bytes against real hop-client.
import { sha256Hex } from "../format/checksum.ts";
import { errorMessage, hkError } from "../runtime/errors.ts";
import { parsePyJson, pyDumps, type PyObject, pyObject, type PyValue } from "./pyjson.ts";

/** hop-client's model names (the `_format` header), without `external` (a pointer to offloaded data). */
export const HOP_FORMATS = ["voevent", "gcntextnotice", "circular", "json", "blob", "avro"] as const;
export type HopFormat = (typeof HOP_FORMATS)[number];

export interface Sample {
  /** Path relative to the testdata directory. */
  name: string;
  format: HopFormat;
  /** What hop-client >= 0.6 sends as the record value. */
  payload: Uint8Array;
  /** What hop-client < 0.6 sent: `json.dumps({"format": ..., "content": ...})`; null where 0.5 had no such model. */
  envelope: Uint8Array | null;
}

export interface SampleFile {
  name: string;
  bytes: Uint8Array;
}

export interface SampleSet {
  byFormat: Readonly<Record<HopFormat, readonly Sample[]>>;
  /** Every file as it is, for producers that are not hop-client (plain Kafka). */
  files: readonly SampleFile[];
  /** SHA-256 over every file name and content: equal digests mean equal payloads, so runs can be compared. */
  digest: string;
}

const encoder = new TextEncoder();
const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/** Python's text-mode read (universal newlines): what `open(path, "r").read()` returns. */
function pythonText(bytes: Uint8Array): string {
  return strictUtf8.decode(bytes).replace(/\r\n?/g, "\n");
}

/**
 * hop's GCNCircular.load: Python's `email.message_from_string` (compat32 policy) split into a dict of lowercased
 * header names and the body. Continuation lines stay in the value with their newline, as compat32 keeps them.
 */
export function circularFromEmail(text: string): PyObject {
  const lines = text.split(/(?<=\n)/);
  const header: PyObject = new Map();
  let current: string[] | null = null;
  const flush = () => {
    if (current === null) return;
    const [first = "", ...rest] = current;
    const colon = first.indexOf(":");
    const value = (first.slice(colon + 1).replace(/^[ \t]+/, "") + rest.join("")).replace(/[\r\n]+$/, "");
    header.set(first.slice(0, colon).toLowerCase(), value);
    current = null;
  };
  let at = 0;
  for (; at < lines.length; at++) {
    const line = lines[at]!;
    if (line === "\n") {
      at++;
      break;
    }
    if (/^[ \t]/.test(line) && current !== null) current.push(line);
    else if (/^[\x21-\x39\x3b-\x7e]+:/.test(line)) {
      flush();
      current = [line];
    } else break; // not a header: the body starts here (Python records a defect and does the same)
  }
  flush();
  return pyObject([["header", header], ["body", lines.slice(at).join("")]]);
}

function field(tree: PyValue, name: string): PyValue | undefined {
  return tree instanceof Map ? tree.get(name) : undefined;
}

function plain(value: PyValue | undefined): string {
  if (typeof value === "string") return value;
  if (value !== null && typeof value === "object" && "pyStr" in value) return value.pyStr;
  return "";
}

/** The GCN e-mail a circular of GCN's JSON schema (circulars.schema.json) was distributed as. */
export function emailFromCircularJson(tree: PyValue): string {
  const created = new Date(Number(plain(field(tree, "createdOn"))));
  const two = (n: number) => String(n).padStart(2, "0");
  const date =
    `${two(created.getUTCFullYear() % 100)}/${two(created.getUTCMonth() + 1)}/${two(created.getUTCDate())} ` +
    `${two(created.getUTCHours())}:${two(created.getUTCMinutes())}:${two(created.getUTCSeconds())} GMT`;
  return [
    "TITLE:   GCN CIRCULAR",
    `NUMBER:  ${plain(field(tree, "circularId"))}`,
    `SUBJECT: ${plain(field(tree, "subject"))}`,
    `DATE:    ${date}`,
    `FROM:    ${plain(field(tree, "submitter"))}`,
    "",
    plain(field(tree, "body")),
  ].join("\n") + "\n";
}

function envelope(format: string, content: PyValue): Uint8Array {
  return encoder.encode(pyDumps(pyObject([["format", format], ["content", content]])));
}

function circularSample(name: string, tree: PyObject): Sample {
  // hop-client >= 0.6 sends json.dumps(asdict(circular)); 0.5 sent the same dict inside its envelope.
  return {
    name,
    format: "circular",
    payload: encoder.encode(pyDumps(tree)),
    envelope: envelope("circular", tree),
  };
}

function samplesOf(file: SampleFile): Sample[] {
  const { name, bytes } = file;
  try {
    if (name.endsWith(".xml")) return [{ name, format: "voevent", payload: bytes, envelope: null }];
    if (name.endsWith(".avro")) {
      // hop-client re-encodes Avro with a random sync marker; the file is what such an encoding looks like.
      return [{ name, format: "avro", payload: bytes, envelope: null }];
    }
    if (name.endsWith(".gcn3")) return [circularSample(name, circularFromEmail(pythonText(bytes)))];
    if (name.endsWith(".json")) {
      const tree = parsePyJson(pythonText(bytes));
      // 0.5 had no json model: JSON went out as a "blob" whose content was the decoded value.
      const json: Sample = {
        name,
        format: "json",
        payload: encoder.encode(pyDumps(tree)),
        envelope: envelope("blob", tree),
      };
      const isCircular = field(tree, "circularId") !== undefined && field(tree, "body") !== undefined;
      return isCircular
        ? [json, circularSample(name, circularFromEmail(emailFromCircularJson(tree)))]
        : [json];
    }
    if (name.endsWith(".txt")) {
      if (/gcn/i.test(name.slice(name.lastIndexOf("/") + 1))) {
        return [{ name, format: "gcntextnotice", payload: bytes, envelope: null }];
      }
      return [{ name, format: "blob", payload: bytes, envelope: envelope("blob", pythonText(bytes)) }];
    }
  } catch (e) {
    throw hkError("MOCK_SAMPLE_INVALID", `sample ${name}: ${errorMessage(e)}`, { cause: e });
  }
  return [];
}

/** Pure: sample files (any order) -> payloads per format. Every format needs at least one sample. */
export function buildSamples(input: readonly SampleFile[], source = "the testdata directory"): SampleSet {
  const files = [...input].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const byFormat = Object.fromEntries(HOP_FORMATS.map((f) => [f, [] as Sample[]])) as Record<
    HopFormat,
    Sample[]
  >;
  for (const file of files) for (const sample of samplesOf(file)) byFormat[sample.format].push(sample);
  const missing = HOP_FORMATS.filter((f) => byFormat[f].length === 0);
  if (missing.length > 0) {
    throw hkError(
      "MOCK_SAMPLES_MISSING",
      `${source} has no sample for ${
        missing.join(", ")
      } (need *.xml, *.txt with "gcn" in the name, *.gcn3, ` +
        "*.json, other *.txt, *.avro); point --testdata at a directory that has them, or leave it unset for the built-in samples",
    );
  }
  const digest = sha256Hex(
    ...files.flatMap((f) => [encoder.encode(`${f.name}\0${f.bytes.length}\0`), f.bytes]),
  );
  return { byFormat, files, digest };
}

/**
 * The sample payloads that ship with the program: testdata/samples of the repository, found relative to this
 * module so `deno run` from anywhere finds them, and embedded by `deno compile --include testdata/samples`.
 */
export function defaultTestdataDir(): string {
  return new URL("../../testdata/samples", import.meta.url).pathname;
}

/** Subdirectories that hold archive objects rather than message payloads. */
const SKIP_DIRS = new Set(["legacy"]);

async function readTree(root: string, dir: string, out: SampleFile[]): Promise<void> {
  for await (const entry of Deno.readDir(`${root}/${dir}`)) {
    const name = dir === "" ? entry.name : `${dir}/${entry.name}`;
    if (entry.isDirectory && !SKIP_DIRS.has(entry.name)) await readTree(root, name, out);
    else if (entry.isFile) out.push({ name, bytes: await Deno.readFile(`${root}/${name}`) });
  }
}

/** Reads every sample file under `dir` (except legacy/ archive objects). */
export async function loadSamples(dir: string): Promise<SampleSet> {
  const files: SampleFile[] = [];
  try {
    await readTree(dir, "", files);
  } catch (e) {
    throw hkError(
      "MOCK_SAMPLES_MISSING",
      `cannot read the testdata directory ${dir}: ${
        errorMessage(e)
      }; pass --testdata DIR (a directory of sample ` +
        "payloads such as the repository's testdata/samples) or set HOUSEKEEPING_TESTDATA",
      { cause: e },
    );
  }
  return buildSamples(files, dir);
}
