// Static checks of the Dockerfile, .dockerignore and docker-compose.yml: no Docker engine runs on the test machines,
// so these hold the files to what the program reads (settings, sub-commands, ports) and to each other.
import assert from "node:assert/strict";
import YAML from "yaml";
import { COMMANDS } from "../../main.ts";
import { parseServeArgs } from "../../lib/commands/serve.ts";
import { SETTINGS } from "../../lib/cli/config.ts";
import { parseArchiveArgs } from "../../lib/commands/archive.ts";
import { parseMockHopArgs } from "../../lib/commands/mock_hop.ts";
import { defaultTestdataDir } from "../../lib/mock/samples.ts";
import { DEFAULT_VETO_YAML, parseVeto } from "../../lib/topics/veto.ts";

const ROOT = new URL("../..", import.meta.url).pathname;
const read = (path: string) => Deno.readTextFile(`${ROOT}${path}`);

interface Instruction {
  op: string;
  args: string;
}

/** Dockerfile -> instructions, continuation lines joined, comments dropped. */
function instructions(text: string): Instruction[] {
  const joined = text.split("\n").filter((l) => !/^\s*#/.test(l)).join("\n").replace(/\\\n/g, " ");
  return joined.split("\n").filter((l) => l.trim() !== "").map((l) => {
    const m = /^\s*(\w+)\s+(.*)$/.exec(l);
    assert.ok(m, `cannot parse Dockerfile line: ${l}`);
    return { op: m[1]!.toUpperCase(), args: m[2]!.replace(/\s+/g, " ").trim() };
  });
}

/** The instructions of each stage, in order; [0] holds the global ARGs before the first FROM. */
function stages(all: Instruction[]): Instruction[][] {
  const out: Instruction[][] = [[]];
  for (const i of all) {
    if (i.op === "FROM") out.push([]);
    out[out.length - 1]!.push(i);
  }
  return out;
}

/** ENV a=b c=d -> {a: b, c: d} */
function envOf(stage: Instruction[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const i of stage.filter((i) => i.op === "ENV")) {
    for (const pair of i.args.split(" ")) {
      const [k, v] = pair.split("=");
      env[k!] = v!;
    }
  }
  return env;
}

Deno.test("Dockerfile: build stage on the pinned Deno, compiling with the deno.json task", async () => {
  const [global, build] = stages(instructions(await read("Dockerfile")));
  const pinned = /^DENO_VERSION=(\S+)$/m.exec(await read("scripts/deno.sh"))?.[1];
  assert.ok(pinned);
  assert.deepEqual(global, [{ op: "ARG", args: `DENO_VERSION=${pinned}` }]);
  assert.equal(build![0]!.args, "denoland/deno:${DENO_VERSION} AS build");
  const runs = build!.filter((i) => i.op === "RUN").map((i) => i.args);
  assert.ok(runs.includes("deno install --frozen"), "dependencies cached in their own layer");
  const compile = runs.find((r) => r.includes("deno task compile"));
  assert.ok(compile, "the build stage uses `deno task compile`");
  assert.match(compile, /scripts\/stamp-version\.sh "\$VERSION" lib\/version\.ts/);
  assert.match(compile, /test "\$\(dist\/housekeeping --version\)" = "housekeeping \$VERSION"/);
});

Deno.test("Dockerfile: final stage distroless, non-root, binary + veto list, archive by default, health check", async () => {
  const all = stages(instructions(await read("Dockerfile")));
  const final = all[all.length - 1]!;
  const op = (name: string) => final.filter((i) => i.op === name).map((i) => i.args);
  assert.deepEqual(op("FROM"), ["gcr.io/distroless/cc-debian12:nonroot"]);
  assert.deepEqual(op("COPY"), [
    "--from=build /src/dist/housekeeping /housekeeping",
    "veto.yaml /etc/housekeeping/veto.yaml",
  ]);
  assert.deepEqual(op("USER"), ["nonroot"]);
  assert.deepEqual(op("ENTRYPOINT"), ['["/housekeeping"]']);
  assert.deepEqual(op("CMD"), ['["archive"]']);
  assert.deepEqual(op("RUN"), [], "distroless has no shell to RUN anything");
  const env = envOf(final);
  assert.equal(env.VETO_FILE, "/etc/housekeeping/veto.yaml", "VETO_FILE names the copied veto list");
  assert.deepEqual(op("EXPOSE"), [env.HTTP_PORT], "the exposed port is the one HTTP_PORT turns on");
  const [health] = op("HEALTHCHECK");
  assert.match(health!, /CMD \["\/housekeeping", "healthz"\]$/);
  // The commands the image runs exist.
  assert.ok(COMMANDS.archive && COMMANDS.healthz);
});

Deno.test("the default veto list is compiled in: veto.yaml and DEFAULT_VETO_YAML say the same", async () => {
  const file = parseVeto(await read("veto.yaml"), "veto.yaml");
  const builtIn = parseVeto(DEFAULT_VETO_YAML, "built-in");
  assert.deepEqual([...file.topics].sort(), [...builtIn.topics].sort());
  assert.deepEqual(file.patterns.map((p) => p.source), builtIn.patterns.map((p) => p.source));
});

Deno.test(".dockerignore: an allow-list that lets in exactly what the Dockerfile copies", async () => {
  const rules = (await read(".dockerignore")).split("\n").filter((l) =>
    l.trim() !== "" && !l.startsWith("#")
  );
  assert.equal(rules[0], "*", "everything is excluded first");
  const allowed = rules.slice(1).map((r) => {
    assert.ok(r.startsWith("!"), `only exceptions follow: ${r}`);
    return r.slice(1);
  });
  const sources = instructions(await read("Dockerfile"))
    .filter((i) => i.op === "COPY" && !i.args.startsWith("--from"))
    .flatMap((i) => i.args.split(" ").slice(0, -1));
  const covered = (src: string) => allowed.some((a) => src === a || (a.endsWith("/") && src.startsWith(a)));
  for (const src of sources) assert.ok(covered(src), `${src} is copied but excluded by .dockerignore`);
  for (const a of allowed) assert.ok(sources.includes(a), `${a} is let in but never copied`);
  // The staged sources carry everything the compile needs.
  for (const src of ["main.ts", "lib/", "deno.json", "deno.lock"]) assert.ok(covered(src), src);
});

Deno.test("main.ts needs only main.ts and lib/, the files `make binary` stages and the Dockerfile copies", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", "main.ts"],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  const info = JSON.parse(new TextDecoder().decode(out.stdout)) as { modules: { specifier: string }[] };
  const local = info.modules.map((m) => m.specifier).filter((s) => s.startsWith("file:"));
  const root = new URL("../..", import.meta.url).href;
  assert.ok(
    local.some((s) => s === `${root}lib/commands/healthz.ts`),
    "lazily loaded commands are in the graph",
  );
  for (const s of local) {
    assert.ok(s === `${root}main.ts` || s.startsWith(`${root}lib/`), `${s} is outside lib/`);
  }
});

// ------------------------------------------------------------------------------------------- docker-compose.yml

interface Service {
  image?: string;
  build?: { context: string; args: Record<string, string> };
  command?: string[] | string;
  entrypoint?: string[];
  environment?: Record<string, string | number>;
  depends_on?: Record<string, { condition: string }>;
  ports?: string[];
  volumes?: string[];
  healthcheck?: { test?: string[]; disable?: boolean };
}

async function compose(): Promise<Record<string, Service>> {
  const doc = YAML.parse(await read("docker-compose.yml"), { merge: true });
  return doc.services;
}

/** Compose's ${NAME:-default} with nothing set in the environment. */
const defaults = (s: string) => s.replace(/\$\{[A-Z_]+:-([^}]*)\}/g, "$1");

function stringEnv(env: Record<string, string | number> | undefined): Record<string, string> {
  return Object.fromEntries(Object.entries(env ?? {}).map(([k, v]) => [k, String(v)]));
}

Deno.test("compose: Kafka, MinIO (+ bucket), PostgreSQL, the archiver, serve and mock-hop", async () => {
  const services = await compose();
  assert.deepEqual(Object.keys(services).sort(), [
    "archiver",
    "kafka",
    "minio",
    "minio-setup",
    "mock-hop",
    "postgres",
    "serve",
  ]);
  for (const name of ["archiver", "mock-hop", "serve"]) {
    const s = services[name]!;
    assert.equal(s.build?.context, ".", `${name} is built from the Dockerfile`);
    assert.equal(defaults(s.image!), "housekeeping:0.0.0-dev");
  }
  // Published ports stay on loopback.
  for (const [name, s] of Object.entries(services)) {
    for (const p of s.ports ?? []) assert.match(p, /^127\.0\.0\.1:/, `${name} publishes ${p}`);
  }
});

Deno.test("compose: every variable the archiver gets is one it reads, and they point at the other services", async () => {
  const services = await compose();
  const archiver = services.archiver!;
  assert.deepEqual(archiver.command, ["archive"]);
  const env = stringEnv(archiver.environment);
  const known = new Set<string>([
    ...SETTINGS.map((s) => s.env),
    "HTTP_PORT",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_REGION",
  ]);
  for (const name of Object.keys(env)) {
    assert.ok(known.has(name), `archiver gets ${name}, which nothing reads`);
  }
  for (
    const name of [
      "KAFKA_BROKERS",
      "S3_BUCKET",
      "S3_ENDPOINT",
      "DATABASE_URL",
      "AWS_ACCESS_KEY_ID",
      "AWS_SECRET_ACCESS_KEY",
      "AWS_REGION",
      "HTTP_PORT",
    ]
  ) assert.ok(env[name], `archiver needs ${name}`);

  // The archiver's own parser accepts the settings and lands on S3 + PostgreSQL, not the laptop defaults.
  const options = parseArchiveArgs([], env, () => "");
  assert.equal(options.settings.bucket.value, env.S3_BUCKET);
  assert.equal(options.settings["database-url"].value, env.DATABASE_URL);
  assert.equal(options.httpPort, Number(env.HTTP_PORT));

  // Kafka: the archiver uses the internal listener the broker advertises.
  const kafka = stringEnv(services.kafka!.environment);
  assert.ok(kafka.KAFKA_ADVERTISED_LISTENERS!.split(",").includes(`INTERNAL://${env.KAFKA_BROKERS}`));
  // MinIO: the endpoint, credentials and the bucket the one-shot creates.
  const minio = stringEnv(services.minio!.environment);
  assert.equal(env.S3_ENDPOINT, "http://minio:9000");
  assert.equal(env.AWS_ACCESS_KEY_ID, minio.MINIO_ROOT_USER);
  assert.equal(env.AWS_SECRET_ACCESS_KEY, minio.MINIO_ROOT_PASSWORD);
  const setup = [services["minio-setup"]!.command].flat().join(" ");
  assert.ok(setup.includes(`http://minio:9000 ${minio.MINIO_ROOT_USER} ${minio.MINIO_ROOT_PASSWORD}`));
  assert.ok(setup.includes(`local/${env.S3_BUCKET}`));
  // PostgreSQL: the URL's user, password and database are the ones the server is created with.
  const pg = stringEnv(services.postgres!.environment);
  const url = new URL(env.DATABASE_URL!);
  assert.deepEqual(
    [url.username, url.password, url.hostname, url.pathname.slice(1)],
    [pg.POSTGRES_USER, pg.POSTGRES_PASSWORD, "postgres", pg.POSTGRES_DB],
  );
  // It starts once its services are ready and the bucket exists.
  assert.deepEqual(archiver.depends_on, {
    kafka: { condition: "service_healthy" },
    postgres: { condition: "service_healthy" },
    "minio-setup": { condition: "service_completed_successfully" },
  });
  assert.ok(archiver.ports?.includes(`127.0.0.1:${env.HTTP_PORT}:${env.HTTP_PORT}`));
});

Deno.test("compose: serve runs from the same image on the archiver's store and index", async () => {
  const services = await compose();
  const serve = services.serve!;
  assert.deepEqual(serve.command, ["serve"]);
  assert.ok(COMMANDS.serve, "serve is a sub-command of the binary");
  const env = stringEnv(serve.environment);
  const archiver = stringEnv(services.archiver!.environment);
  for (
    const name of ["S3_BUCKET", "S3_ENDPOINT", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "DATABASE_URL"]
  ) {
    assert.equal(env[name], archiver[name], `serve reads the archive through the archiver's ${name}`);
  }
  const options = parseServeArgs([], env, () => "");
  assert.equal(options.httpPort, Number(env.HTTP_PORT), "the image's health check asks HTTP_PORT's /healthz");
  assert.ok(options.publicTopics.isPublic("any.topic"), "without hopauth every topic is public here");
  assert.ok(serve.ports?.includes(`127.0.0.1:8081:${env.HTTP_PORT}`));
});

Deno.test("compose: mock-hop sends PLAINTEXT traffic to the same Kafka, from the built-in samples", async () => {
  const services = await compose();
  const mock = services["mock-hop"]!;
  const command = mock.command as string[];
  assert.equal(command[0], "mock-hop");
  assert.ok(COMMANDS[command[0]!], "mock-hop is a sub-command of the binary");
  const env = stringEnv(mock.environment);
  assert.equal(env.KAFKA_BROKERS, stringEnv(services.archiver!.environment).KAFKA_BROKERS);
  const options = parseMockHopArgs(command.slice(1), env, () => "");
  assert.equal(options.settings["security-protocol"].value, "PLAINTEXT");
  assert.equal(options.testdata, defaultTestdataDir(), "no HOUSEKEEPING_TESTDATA: the embedded samples");
  assert.equal(mock.volumes, undefined, "nothing from outside the repository is mounted");
  assert.equal(mock.healthcheck?.disable, true, "a one-shot sender serves no /healthz");
});
