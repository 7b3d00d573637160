// /openapi.json describes every route `serve` answers (archive-api's, with their parameters, defaults, caps and
// answers, and serve's own /healthz and /metrics); /docs renders it as a page with no outside resources: its one
// script is inline, allowed by hash in a Content-Security-Policy that allows nothing else, and it writes text only
// (textContent), so nothing in the document can become markup.
import { createHash } from "node:crypto";
import { VERSION } from "../version.ts";

type Param = [
  name: string,
  where: "path" | "query",
  type: string,
  required: boolean,
  description: string,
  extra?: object,
];

const TEXT = { "text/plain": { schema: { type: "string" } } };
const BSON = { "application/bson": { schema: { type: "object" } } };

function operation(
  summary: string,
  description: string,
  params: Param[],
  responses: Record<string, [string, object?]>,
  requestBody?: object,
) {
  return {
    summary,
    description,
    parameters: [
      ...params.map(([name, where, type, required, desc, extra]) => ({
        name,
        in: where,
        required,
        description: desc,
        schema: { type, ...(extra ?? {}) },
      })),
      {
        name: "authorization",
        in: "header",
        required: false,
        description: "RFC 7804 SCRAM (SCRAM-SHA-512) or a hopauth token, checked by the hopauth REST API",
        schema: { type: "string" },
      },
    ],
    ...(requestBody ? { requestBody } : {}),
    responses: Object.fromEntries(
      Object.entries(responses).map(([code, [desc, content]]) => [code, {
        description: desc,
        ...(content ? { content } : {}),
      }]),
    ),
  };
}

const ID: Param = [
  "msg_id",
  "path",
  "string",
  true,
  "message UUID (any spelling Python's uuid.UUID accepts)",
  {
    format: "uuid",
  },
];
const TIME: Param[] = [
  ["start_time", "query", "integer", false, "record timestamps >= this (ms since the epoch)"],
  ["end_time", "query", "integer", false, "record timestamps < this (ms since the epoch)"],
];
const PAGING: Param[] = [
  ["page", "query", "string", false, "bookmark from a previous answer's `next` or `prev`"],
  ["limit", "query", "integer", false, "page size: at most 64 full messages or 1024 metadata records", {
    default: 64,
  }],
  ["asc", "query", "boolean", false, "oldest first", { default: true }],
  ["include_retracted", "query", "boolean", false, "include retracted messages", { default: true }],
  ["meta", "query", "boolean", false, "metadata records instead of full messages", { default: false }],
];
const READ_ANSWERS: Record<string, [string, object?]> = {
  "200": ["BSON {next, prev, messages}: stored objects, or metadata records with meta=true", BSON],
  "400": ["bad time range, limit or bookmark", TEXT],
  "401": ["credentials needed, or the next SCRAM round"],
  "422": ["a parameter of the wrong type (JSON detail)"],
};

export const OPENAPI = {
  openapi: "3.1.0",
  info: {
    title: "Archive API",
    summary: "REST API for the Hopskotch Archive (housekeeping serve, in archive-api's dialect)",
    version: VERSION,
  },
  paths: {
    "/health_check": {
      get: operation("Health Check", "Whether the index, the object store and hopauth answer.", [], {
        "200": ["{DatabaseOK, ObjectStoreOK, HopAuthOK}", {
          "application/json": { schema: { type: "object" } },
        }],
      }),
    },
    "/msg/{msg_id}": {
      get: operation("Fetch Message", "One archived message: its BSON object exactly as stored.", [ID], {
        "200": ["the object", BSON],
        "400": ["Invalid Message ID", TEXT],
        "401": ["credentials needed"],
        "403": ["Operation not permitted", TEXT],
        "404": ["Message not found", TEXT],
      }),
    },
    "/msg/{msg_id}/raw_file/{file_name}": {
      get: operation("Fetch Raw Message", "The message's value bytes, as a download named file_name.", [
        ID,
        ["file_name", "path", "string", true, "name given in Content-Disposition"],
      ], {
        "200": ["the value", { "application/octet-stream": {} }],
        "400": ["Invalid Message ID", TEXT],
        "401": ["credentials needed"],
        "403": ["Operation not permitted", TEXT],
        "404": ["Message not found", TEXT],
      }),
    },
    "/msg/{msg_id}/retraction": {
      put: operation(
        "Retract Message",
        "Sets the retracted flag: for an Owner of the group owning the topic, or the message's sender.",
        [ID, ["retracted", "query", "boolean", true, "the new flag"]],
        {
          "200": ["done", BSON],
          "400": ["Invalid Message ID", TEXT],
          "401": ["credentials needed"],
          "403": ["Operation not permitted", TEXT],
          "404": ["Message not found", TEXT],
          "422": ["retracted missing or not a boolean"],
        },
      ),
    },
    "/topic/{topic_name}": {
      get: operation("Fetch From Single Topic", "Messages of one topic, a page at a time.", [
        ["topic_name", "path", "string", true, "topic"],
        ...TIME,
        ...PAGING,
      ], READ_ANSWERS),
      post: operation(
        "Write Message",
        "Archives one message (hop-client posts oversized messages to {topic}+oversized); exactly once under " +
          "retries. Without an _id header the archive assigns a UUID from topic and content.",
        [["topic_name", "path", "string", true, "topic"]],
        {
          "201": ["BSON {archive_uuid, is_client_uuid}", BSON],
          "400": ["not BSON, or a field of the wrong kind", TEXT],
          "401": ["credentials needed"],
          "403": ["Operation not permitted", TEXT],
          "413": ["larger than the archive accepts", TEXT],
          "501": ["the archive is read-only", TEXT],
        },
        {
          required: true,
          content: {
            "application/bson": {
              schema: {
                type: "object",
                required: ["message"],
                properties: {
                  message: { type: "string", format: "binary" },
                  headers: { type: "array", items: { type: "array", minItems: 2, maxItems: 2 } },
                  key: { type: "string", format: "binary" },
                },
              },
            },
          },
        },
      ),
    },
    "/topics": {
      get: operation(
        "Get Available Topics",
        "Topics with public messages, and those the credential may read.",
        [],
        {
          "200": ["BSON {topics: [...]}", BSON],
        },
      ),
    },
    "/messages": {
      get: operation("Get Messages", "Messages across topics, optionally by text search.", [
        ["topic", "query", "array", false, "topics (repeat the parameter); none: every readable topic", {
          items: { type: "string" },
        }],
        ["search_query", "query", "string", false, "websearch_to_tsquery text over the message text index"],
        ...TIME,
        ...PAGING,
      ], READ_ANSWERS),
    },
    "/messages/count": {
      get: operation("Count Messages", "How many messages /messages would list.", [
        ["topic", "query", "array", false, "topics (repeat the parameter)", { items: { type: "string" } }],
        ["search_query", "query", "string", false, "websearch_to_tsquery text"],
        ...TIME,
        ["include_retracted", "query", "boolean", false, "include retracted messages", { default: true }],
      ], { "200": ["BSON {count}", BSON] }),
    },
    "/healthz": { get: operation("Liveness", "housekeeping's orchestrator probe.", [], { "200": ["ok"] }) },
    "/metrics": { get: operation("Metrics", "Prometheus text format.", [], { "200": ["metrics"] }) },
  },
};

const SCRIPT = `fetch("openapi.json").then(r => r.json()).then(doc => {
  const out = document.getElementById("routes");
  const add = (parent, tag, text) => { const e = document.createElement(tag); e.textContent = text; parent.appendChild(e); return e; };
  for (const [path, ops] of Object.entries(doc.paths)) for (const [method, op] of Object.entries(ops)) {
    const s = add(out, "section", "");
    add(s, "h2", method.toUpperCase() + " " + path);
    add(s, "p", op.description || "");
    const ul = add(s, "ul", "");
    for (const p of op.parameters || []) add(ul, "li", p.in + " " + p.name + (p.required ? " (required)" : "") + ": " + (p.description || ""));
    const ans = add(s, "ul", "");
    for (const [code, r] of Object.entries(op.responses || {})) add(ans, "li", code + ": " + r.description);
  }
});`;

const SCRIPT_HASH = createHash("sha256").update(SCRIPT).digest("base64");

const PAGE = `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>Archive API</title>
<style>body{font-family:sans-serif;max-width:60em;margin:auto}h2{font-size:1.1em;font-family:monospace}</style>
</head><body><h1>Archive API (housekeeping serve)</h1><p>Machine-readable: <a href="openapi.json">openapi.json</a></p>
<div id="routes"></div><script>${SCRIPT}</script></body></html>
`;

export function openApiResponse(): Response {
  return Response.json(OPENAPI);
}

export function docsResponse(): Response {
  return new Response(PAGE, {
    headers: {
      "content-type": "text/html; charset=utf-8",
      "content-security-policy":
        `default-src 'none'; script-src 'sha256-${SCRIPT_HASH}'; connect-src 'self'; style-src 'unsafe-inline'`,
    },
  });
}
