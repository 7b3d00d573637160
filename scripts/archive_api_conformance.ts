// Records what the real scimma/archive-api answers to the conformance table (tests/support/archive_api_conformance.ts)
// into tests/testdata/archive_api/, on data our own ingest core archived into a fresh schema and bucket of the test
// services. tests/integration/archive_api_conformance_test.ts replays the table against `serve`.
//
// Regenerate (archive-api HEAD 3b239a9 on archive-core v1.3.0; Python 3.12; libmagic1):
//   python3.12 -m venv /tmp/aapi-venv
//   /tmp/aapi-venv/bin/pip install ./archive-core fastapi 'uvicorn[standard]' hop-client httpx
//   eval "$(scripts/services.sh env)"
//   scripts/deno.sh run --allow-all --frozen scripts/archive_api_conformance.ts \
//     --archive-api ./archive-api --python /tmp/aapi-venv/bin/python
// (./archive-api and ./archive-core: checkouts of scimma/archive-api and scimma/archive-core at those commits.)
// Authenticated requests go through hop-client's SCRAM client (tests/py/serve_peer.py, the peer venv).
import { parseArgs } from "node:util";
import { connectIndex } from "../lib/index/database.ts";
import { createIndex } from "../lib/index/postgres.ts";
import { openStore } from "../lib/store/open.ts";
import { createBucket, dropBucket, dropSchema, testIds } from "../tests/support/archive_helpers.ts";
import { serviceEnv } from "../tests/support/helpers.ts";
import { startHopAuthStandIn } from "../tests/support/hopauth_standin.ts";
import {
  type Answer,
  AUTH,
  CORS,
  FIXTURE_DIR,
  perform,
  REQUESTS,
  seed,
} from "../tests/support/archive_api_conformance.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: { "archive-api": { type: "string" }, python: { type: "string" }, port: { type: "string" } },
});
const apiDir = values["archive-api"];
const python = values.python;
if (!apiDir || !python) {
  console.error("usage: archive_api_conformance.ts --archive-api DIR --python VENV_PYTHON [--port N]");
  Deno.exit(2);
}
const port = Number(values.port ?? "18765");

const { id, schema } = testIds("aapi");
const bucket = `hk-${id}`.toLowerCase().slice(0, 60);
await createBucket(bucket);
const sql = await connectIndex(serviceEnv("DATABASE_URL"), { searchPath: schema });
const index = createIndex(sql);
await index.migrate();
const store = await openStore(`s3://${bucket}`, { endpoint: serviceEnv("S3_ENDPOINT") });
await seed(index, store, sql);

const standIn = startHopAuthStandIn({
  ...AUTH,
  users: { ...AUTH.users, archiver: "archiver-pw" },
});
const db = new URL(serviceEnv("DATABASE_URL"));
const api = new Deno.Command(python, {
  args: [
    "-m",
    "uvicorn",
    "--app-dir",
    `${apiDir}/scripts`,
    "archive_api:app",
    "--host",
    "127.0.0.1",
    "--port",
    `${port}`,
  ],
  env: {
    DB_TYPE: "sql",
    DB_HOST: db.hostname,
    DB_PORT: db.port,
    DB_NAME: db.pathname.slice(1),
    DB_USERNAME: decodeURIComponent(db.username),
    DB_PASSWORD: decodeURIComponent(db.password),
    // libpq's own variable: archive-core has no schema setting, and this run must not touch `public`.
    PGOPTIONS: `-c search_path=${schema}`,
    STORE_TYPE: "S3",
    STORE_PRIMARY_BUCKET: bucket,
    STORE_BACKUP_BUCKET: bucket,
    STORE_ENDPOINT_URL: serviceEnv("S3_ENDPOINT"),
    STORE_REGION_NAME: serviceEnv("AWS_REGION"),
    S3_ACCESS_KEY_ID: serviceEnv("AWS_ACCESS_KEY_ID"),
    S3_SECRET_ACCESS_KEY: serviceEnv("AWS_SECRET_ACCESS_KEY"),
    HOPAUTH_API_URL: standIn.url,
    HOPAUTH_USERNAME: "archiver",
    HOPAUTH_PASSWORD: "archiver-pw",
    CORS_ORIGINS: CORS.origins.join(" "),
    CORS_ORIGIN_REGEX: CORS.regex,
    LOG_LEVEL: "WARNING",
  },
  stdout: "inherit",
  stderr: "inherit",
}).spawn();

const base = `http://127.0.0.1:${port}`;
try {
  for (let i = 0;; i++) {
    const up = await fetch(`${base}/health_check`).then(
      (r) => r.body?.cancel().then(() => true),
      () => false,
    );
    if (up) break;
    if (i > 120) throw new Error("archive-api did not start");
    await new Promise((r) => setTimeout(r, 500));
  }
  const answers = new Map<string, Answer>();
  for (const req of REQUESTS) {
    const answer = await perform(base, req, answers);
    answers.set(req.name, answer);
    console.log(`${req.name}: ${answer.status}`);
  }
  await Deno.mkdir(FIXTURE_DIR, { recursive: true });
  const fixture = {
    recorded_with: "scimma/archive-api 3b239a9 (HEAD), archive-core v1.3.0, Python 3.12",
    requests: REQUESTS.map((req) => ({ request: req, answer: answers.get(req.name) })),
  };
  await Deno.writeTextFile(`${FIXTURE_DIR}answers.json`, JSON.stringify(fixture, null, 1) + "\n");
  console.log(`${REQUESTS.length} answers written to ${FIXTURE_DIR}answers.json`);
} finally {
  api.kill("SIGTERM");
  await api.status;
  await standIn.close();
  store.close();
  await sql.end({ timeout: 5 });
  await dropSchema(schema);
  await dropBucket(bucket);
}
