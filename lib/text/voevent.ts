// VOEvent XML as hop-client reads it (hop/models.py VOEvent.load: xmltodict.parse(xml, attr_prefix="") over expat)
// and archive-core's extract_indexable_text_voevent walks it. saxes stands in for expat: both are strict XML 1.0
// parsers, and neither expands an entity declared in the document (xmltodict refuses any entity declaration;
// saxes knows only the five predefined ones and character references), so no entity can grow the input.
import { SaxesParser } from "saxes";
import { decodeUtf8, loadPythonJson } from "./json.ts";
import { pyStrip } from "./python.ts";
import { type Chunks, extractText, MAX_DEPTH, type PyDict, type PyValue } from "./values.ts";

// hop's VOEvent dataclass: cls(**data) raises for any other key; `ivorn` has no default.
const FIELDS = new Set([
  "ivorn",
  "role",
  "version",
  "Who",
  "What",
  "WhereWhen",
  "How",
  "Why",
  "Citations",
  "Description",
  "Reference",
  "_raw",
]);
const EXTRACTED = ["Who", "What", "WhereWhen", "How", "Why", "Citations", "Description", "Reference"];

class XmlRefused extends Error {}

// xmltodict's push_data: a repeated key becomes a list of its values.
function pushData(item: PyDict | null, key: string, data: PyValue): PyDict {
  const dict = item ?? new Map<string, PyValue>();
  const before = dict.get(key);
  if (before === undefined && !dict.has(key)) dict.set(key, data);
  else if (Array.isArray(before)) before.push(data);
  else dict.set(key, [before ?? null, data]);
  return dict;
}

// expat reads UTF-8 (BOM or not), UTF-16 with a BOM, and ISO-8859-1 when the declaration says so.
function decodeXml(bytes: Uint8Array): string | null {
  if (bytes[0] === 0xff && bytes[1] === 0xfe) {
    return new TextDecoder("utf-16le", { fatal: true }).decode(bytes);
  }
  if (bytes[0] === 0xfe && bytes[1] === 0xff) {
    return new TextDecoder("utf-16be", { fatal: true }).decode(bytes);
  }
  const head = String.fromCharCode(...bytes.subarray(0, 100));
  if (/^<\?xml[^>]*encoding\s*=\s*["'](iso-8859-1|latin-?1)["']/i.test(head)) {
    return new TextDecoder("latin1").decode(bytes);
  }
  const text = decodeUtf8(bytes);
  return text?.startsWith("\ufeff") ? text.slice(1) : text;
}

interface Open {
  item: PyDict | null;
  data: string[];
}

/** xmltodict.parse(xml, attr_prefix=""): nested dicts of attributes, children and "#text"; null when refused. */
export function xmlToDict(bytes: Uint8Array): PyDict | null {
  const text = decodeXml(bytes);
  if (text === null) return null;
  const parser = new SaxesParser({ position: false });
  const stack: Open[] = [];
  let current: Open = { item: null, data: [] };
  let attributes: [string, string][] = [];
  parser.on("error", (e) => {
    throw new XmlRefused(e.message);
  });
  parser.on("doctype", (doctype) => {
    if (/<!ENTITY/.test(doctype)) throw new XmlRefused("entities are disabled");
  });
  parser.on("attribute", ({ name, value }) => attributes.push([name, value]));
  parser.on("opentag", () => {
    if (stack.length >= MAX_DEPTH) throw new XmlRefused("nested too deeply");
    stack.push(current);
    current = { item: attributes.length > 0 ? new Map(attributes) : null, data: [] };
    attributes = [];
  });
  const characters = (data: string) => current.data.push(data);
  parser.on("text", characters);
  parser.on("cdata", characters);
  parser.on("closetag", ({ name }) => {
    const { item, data: pieces } = current;
    current = stack.pop()!;
    const data = pieces.length === 0 ? null : pyStrip(pieces.join("")) || null;
    if (item !== null) {
      if (data !== null) pushData(item, "#text", data);
      current.item = pushData(current.item, name, item);
    } else current.item = pushData(current.item, name, data);
  });
  try {
    parser.write(text).close();
  } catch (e) {
    if (e instanceof XmlRefused) return null;
    throw e;
  }
  return current.item;
}

// The dict VOEvent(**data) accepts, or null.
function voeventFields(data: PyDict): PyDict | null {
  for (const key of data.keys()) if (!FIELDS.has(key)) return null;
  return data.has("ivorn") ? data : null;
}

// xmltodict.unparse of the old JSON form refuses these element names (its _validate_name).
function unparseable(value: PyValue): boolean {
  if (Array.isArray(value)) return value.some(unparseable);
  if (!(value instanceof Map)) return false;
  for (const [key, v] of value) {
    if (/^[?!]|[<>/"'=\s]/.test(key) || unparseable(v)) return true;
  }
  return false;
}

function fromXml(bytes: Uint8Array): PyDict | null {
  const tree = xmlToDict(bytes);
  const root = tree?.get("voe:VOEvent");
  if (!(root instanceof Map)) return null;
  // load() drops namespaced keys (xmlns:voe, xsi:schemaLocation) before VOEvent(**data).
  return voeventFields(new Map([...root].filter(([key]) => !key.includes(":"))));
}

// VOEvent.deserialize's fall-back: old hop-clients sent the VOEvent as JSON.
function fromJson(bytes: Uint8Array): PyDict | null {
  const tree = loadPythonJson(bytes);
  if (!(tree instanceof Map)) return null;
  const fields = voeventFields(tree);
  return fields !== null && !unparseable(fields) ? fields : null;
}

/** extract_indexable_text_voevent: the text of Who, What, WhereWhen, How, Why, Citations, Description, Reference. */
export function voeventText(value: Uint8Array, chunks: Chunks): boolean {
  const fields = fromXml(value) ?? fromJson(value);
  if (fields === null) return false;
  for (const name of EXTRACTED) extractText(fields.get(name) ?? new Map(), chunks);
  return true;
}
