// The pages' bodies: pure functions from what the index and the object hold to markup. Every archived byte goes
// through `html` (lib/web/escape.ts), so none is ever markup.
import { formatBytes, formatCount, formatTimeShort } from "../cli/output.ts";
import type { DecodedArchiveObject } from "../format/record.ts";
import type { BrowsePage, BrowseRow, Place } from "../index/browse.ts";
import type { StoredRow, TopicStats } from "../index/types.ts";
import { html, pathSegment, type Safe } from "./escape.ts";
import { dayText } from "./chart.ts";
import { headerText, hexBytes, renderValue } from "./render.ts";

export const topicHref = (topic: string) => `/web/topic/${pathSegment(topic)}`;
export const messageHref = (uuid: string) => `/web/message/${pathSegment(uuid)}`;
export const placeText = (p: Place) => `${p.timestamp}_${p.id}`;

export function topicsTable(
  stats: TopicStats[],
  inRange: Map<string, bigint>,
  range: { from: bigint; to: bigint },
): Safe {
  if (stats.length === 0) return html`<p class="muted">No topic you may read has archived messages.</p>`;
  const rows = stats.map((s) =>
    html`
      <tr>
        <td class="text"><a href="${topicHref(s.topic)}">${s.topic}</a></td>
        <td class="num">${formatCount(s.messages)}</td>
        <td class="num">${formatBytes(s.bytes)}</td>
        <td class="num wide">${formatTimeShort(s.earliest)}</td>
        <td class="num wide">${formatTimeShort(s.latest)}</td>
        <td class="num wide">${formatCount(inRange.get(s.topic) ?? 0n)}</td>
      </tr>
    `
  );
  return html`
    <div class="scroll">
      <table>
        <caption class="skip">Topics</caption>
        <thead>
          <tr>
            <th scope="col">Topic</th>
            <th scope="col" class="num">Messages</th>
            <th scope="col" class="num">Bytes</th>
            <th scope="col" class="num wide">First record</th>
            <th scope="col" class="num wide">Last record</th>
            <th scope="col" class="num wide">${dayText(range.from)} – ${dayText(range.to)}</th>
          </tr>
        </thead>
        <tbody>${rows}</tbody>
      </table>
    </div>
  `;
}

/** The range form: days from and to, and whatever else the page keeps (hidden fields). */
export function rangeForm(action: string, from: bigint, to: bigint, label: string): Safe {
  return html`
    <form class="range" method="get" action="${action}">
      <label>From <input type="date" name="from" value="${dayText(from)}"></label>
      <label>To <input type="date" name="to" value="${dayText(to)}"></label>
      <button type="submit">${label}</button>
    </form>
  `;
}

/** Messages, one a row; a search's hits with their snippet (markup made by lib/web/snippets.ts) below each. */
export function messagesTable(rows: BrowseRow[], showTopic: boolean, snippets?: Map<string, Safe>): Safe {
  if (rows.length === 0) return html`<p class="muted">No messages here.</p>`;
  const columns = showTopic ? 7 : 6;
  const body = rows.map((r) =>
    html`<tr${
      snippets?.has(r.uuid)
        ? html`
          class="hit"
        `
        : ""
    }><td class="num">${formatTimeShort(r.timestamp)}</td>${
      showTopic ? html`<td class="text"><a href="${topicHref(r.topic)}">${r.topic}</a></td>` : ""
    }<td class="text">${r.sender ?? ""}</td><td class="text">${r.title}</td><td class="wide">${
      r.format ?? ""
    }</td><td class="num wide">${formatBytes(r.valueSize ?? r.size)}</td><td class="uuid"><a href="${
      messageHref(r.uuid)
    }">${r.uuid}</a>${
      r.retracted
        ? html`
          <span class="badge retracted">retracted</span>
        `
        : ""
    }</td></tr>${
      snippets?.has(r.uuid)
        ? html`
          <tr class="excerpt">
            <td colspan="${columns}">
              <p>${snippets.get(r.uuid)}</p>
            </td>
          </tr>
        `
        : ""
    }`
  );
  return html`
    <div class="scroll">
      <table>
        <thead>
          <tr><th scope="col" class="num">Time (UTC)</th>${showTopic
            ? html`<th scope="col">Topic</th>`
            : ""}<th scope="col">Sender</th><th scope="col">Title</th><th scope="col" class="wide">Format</th>
    <th scope="col" class="num wide">Size</th><th scope="col">UUID</th></tr>
        </thead>
        <tbody>${body}</tbody>
      </table>
    </div>
  `;
}

/** Newest / newer / older links of a topic page; `base` keeps the window's parameters. */
export function pagingLinks(base: URLSearchParams, href: string, page: BrowsePage): Safe {
  const link = (name: "older" | "newer" | null, place: Place | null) => {
    const q = new URLSearchParams(base);
    q.delete("older");
    q.delete("newer");
    if (name !== null && place !== null) q.set(name, placeText(place));
    const qs = q.toString();
    return `${href}${qs === "" ? "" : `?${qs}`}`;
  };
  return html`<nav class="pages" aria-label="Pages">
${page.newer !== null ? html`<a href="${link(null, null)}">« Newest</a>` : ""}
${page.newer !== null ? html`<a rel="prev" href="${link("newer", page.newer)}">‹ Newer</a>` : ""}
${page.older !== null ? html`<a rel="next" href="${link("older", page.older)}">Older ›</a>` : ""}
</nav>`;
}

const EXTENSIONS: Record<string, string> = {
  json: "json",
  circular: "json",
  voevent: "xml",
  gcntextnotice: "txt",
  avro: "avro",
};

/** The file name a raw value downloads as. */
export function rawName(uuid: string, format: string | null): string {
  return `${uuid}.${EXTENSIONS[format ?? ""] ?? "bin"}`;
}

export function headersTable(headers: DecodedArchiveObject["headers"]): Safe {
  if (headers.length === 0) return html`<p class="muted">No headers.</p>`;
  const rows = headers.map((h, i) => {
    const v = headerText(h.value);
    const shown = v.text.length > 4096 ? `${v.text.slice(0, 4096)}…` : v.text;
    return html`
      <tr>
        <td class="num">${i}</td>
        <td class="text">${h.keyBytes === undefined
          ? html`<code>${h.key}</code>`
          : html`<span class="badge">binary, hex</span> <code>${hexBytes(h.keyBytes)}</code>`}</td>
        <td class="truncated">${v.binary
          ? html`
            <span class="badge">binary, hex</span>
          `
          : ""}${h.value === null
          ? html`<span class="muted">null</span>`
          : html`<code>${shown}</code>`}${v.text.length > 4096
          ? html`
            <span class="muted">(${formatCount(h.value!.length)} bytes)</span>
          `
          : ""}</td>
      </tr>
    `;
  });
  return html`
    <div class="scroll">
      <table>
        <thead>
          <tr>
            <th scope="col" class="num">#</th>
            <th scope="col">Key</th>
            <th scope="col">Value</th>
          </tr>
        </thead>
        <tbody>${rows}</tbody>
      </table>
    </div>
  `;
}

export function messageFacts(
  row: StoredRow,
  object: DecodedArchiveObject | null,
  title: string | null,
): Safe {
  const key = object === null
    ? null
    : object.key === null
    ? { text: "(null)", binary: false }
    : headerText(object.key);
  const fact = (name: string, value: Safe | string) =>
    html`
      <dt>${name}</dt>
      <dd>${value}</dd>
    `;
  return html`<dl class="facts">
${fact("Topic", html`<a href="${topicHref(row.topic)}">${row.topic}</a>`)}
${title !== null && title !== "" ? fact("Title", title) : ""}
${fact("UUID", html`<code>${row.uuid}</code>`)}
${
    fact(
      "Timestamp",
      `${formatTimeShort(row.timestamp)} (${row.timestamp} ms, ${object?.timestampType ?? "type unknown"})`,
    )
  }
${fact("Partition, offset", `${row.partition ?? "?"}, ${row.offset ?? "?"}`)}
${fact("Sender", row.sender ?? "")}
${fact("Format", row.format ?? "")}
${
    key === null ? "" : fact(
      "Key",
      html`${
        key.binary
          ? html`
            <span class="badge">binary, hex</span>
          `
          : ""
      }<code>${key.text.length > 4096 ? `${key.text.slice(0, 4096)}…` : key.text}</code>`,
    )
  }
${
    fact(
      "Value",
      `${formatCount(row.valueSize ?? 0)} bytes, CRC-32 ${row.messageCrc32.toString(16).padStart(8, "0")}`,
    )
  }
${
    fact(
      "Stored object",
      `${formatCount(row.size)} bytes${row.contentSha256 ? `, SHA-256 ${row.contentSha256}` : ""}`,
    )
  }
</dl>`;
}

export function valueBlock(value: Uint8Array | null, format: string | null): Safe {
  if (value === null) return html`<p class="muted">The value is null (a tombstone).</p>`;
  const shown = renderValue(value, format);
  const label = {
    json: "JSON, re-indented",
    xml: "XML, indented",
    text: "text",
    circular: "GCN circular, as its e-mail (download for the JSON as sent)",
    avro: "Avro container, its records decoded to JSON",
    hex: "hex dump",
  }[shown.kind];
  return html`<p class="muted">${label}${
    shown.omitted > 0
      ? `; the first ${formatCount(value.length - shown.omitted)} bytes of ${formatCount(value.length)}`
      : ""
  }</p>
<pre tabindex="0" aria-label="Value">${shown.text}</pre>`;
}

/** A block of code with a copy button (which the script shows; without it the text is selectable). */
export function copyable(id: string, text: string): Safe {
  return html`<div class="snippet"><button type="button" data-copy="${id}" hidden>Copy</button>
<pre id="${id}" tabindex="0">${text}</pre></div>`;
}

/**
 * Python that fetches the message with hop-client. hop-client (0.13) has no call that fetches an archived message
 * by UUID; its consumer fetches a message offloaded to an archive with a GET of the archive's /msg/{uuid} (hop-client's
 * SCRAM for the credential `hop auth add` stored), then its own BSON decoder and Deserializer: this does the same, and
 * yields the object `hop subscribe` would have (JSONBlob, GCNCircular, VOEvent, AvroBlob, Blob...). `url` is the
 * message's /msg/{uuid}; the raw value is written to `name`, byte for byte.
 */
export function hopSnippet(url: string, name: string, isPublic: boolean): string {
  const lines = [
    "# hop-client has no archive call: fetch the archived record as hop-client's consumer fetches an offloaded one",
    "import requests",
    "from hop import bson, io",
  ];
  if (!isPublic) {
    lines.push("from hop.auth import load_auth", "from hop.http_scram import SCRAMAuth");
  }
  lines.push("", `url = ${JSON.stringify(url)}`);
  if (!isPublic) {
    lines.push(
      "auth = SCRAMAuth(load_auth()[0], shortcut=True)  # the first credential `hop auth add` stored",
    );
  }
  lines.push(
    `resp = requests.get(url${isPublic ? "" : ", auth=auth"})`,
    "resp.raise_for_status()",
    "archived = bson.loads(resp.content)",
    'meta = archived["metadata"]',
    "record = io.Consumer.ExternalMessage(",
    '    archived["message"], meta["headers"], meta["topic"], meta.get("partition", 0), meta.get("offset", 0),',
    '    meta["timestamp"], meta.get("key"))',
    "message = io.Deserializer.deserialize(record)  # what `hop subscribe` would have read",
    "print(type(message).__name__, message)",
    `with open(${JSON.stringify(name)}, "wb") as f:`,
    '    f.write(archived["message"] or b"")  # the raw value, byte for byte',
  );
  return lines.join("\n");
}
