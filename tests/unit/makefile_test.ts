// The release flow without a Docker engine: `make -n` prints the exact commands each version convention produces, and
// a bad version stops make before any command. Also the version stamping, through the same entry point `deno run`s.
import assert from "node:assert/strict";

const ROOT = new URL("../..", import.meta.url).pathname;
const decoder = new TextDecoder();

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Only PATH and HOME: a VERSION, GITHUB_REF or MAKEFLAGS around the test run must not leak into make. */
async function run(cmd: string, args: string[], cwd = ROOT, env: Record<string, string> = {}): Promise<Run> {
  const out = await new Deno.Command(cmd, {
    args,
    cwd,
    clearEnv: true,
    env: { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin", HOME: Deno.env.get("HOME") ?? "/tmp", ...env },
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

const makeN = (...args: string[]) => run("make", ["--no-print-directory", "-n", ...args]);

function lines(text: string): string[] {
  return text.split("\n").filter((l) => l !== "");
}

/** What `make push` must run for one registry and its tags. */
function pushLines(version: string, registry: string, tags: string[]): string[] {
  return tags.flatMap((t) => [
    `docker tag housekeeping:${version} ${registry}:${t}`,
    `docker push ${registry}:${t}`,
  ]);
}

const build = (version: string) =>
  `docker build --pull --build-arg VERSION=${version} --tag housekeeping:${version} .`;

Deno.test("make -n push: a 1.x release tags X.Y.Z, X.Y and X on docker.io/scimma/housekeeping", async () => {
  const r = await makeN("push", "GITHUB_REF=housekeeping-1.2.3");
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(lines(r.stdout), [
    build("1.2.3"),
    ...pushLines("1.2.3", "docker.io/scimma/housekeeping", ["1.2.3", "1.2", "1"]),
  ]);
});

Deno.test("make -n push: GitHub's refs/tags/ form and vX.Y.Z tags name the same release", async () => {
  for (const ref of ["refs/tags/housekeeping-2.10.0", "v2.10.0", "refs/tags/v2.10.0"]) {
    const r = await makeN("push", `GITHUB_REF=${ref}`);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(lines(r.stdout), [
      build("2.10.0"),
      ...pushLines("2.10.0", "docker.io/scimma/housekeeping", ["2.10.0", "2.10", "2"]),
    ], ref);
  }
});

Deno.test("make -n push: 0.8.Z experiments push X.Y.Z and X.Y to every registry, never the shared 0", async () => {
  const ecr = "123456789012.dkr.ecr.us-west-2.amazonaws.com/scimma/housekeeping";
  const r = await makeN(
    "push",
    "GITHUB_REF=housekeeping-0.8.4",
    `REGISTRIES=${ecr} docker.io/scimma/housekeeping`,
  );
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(lines(r.stdout), [
    build("0.8.4"),
    ...pushLines("0.8.4", ecr, ["0.8.4", "0.8"]),
    ...pushLines("0.8.4", "docker.io/scimma/housekeeping", ["0.8.4", "0.8"]),
  ]);
});

Deno.test("make -n push: 0.0.0 is the development deployment and pushes only 0.0.0", async () => {
  for (const input of ["VERSION=0.0.0", "GITHUB_REF=housekeeping-0.0.0"]) {
    const r = await makeN("push", input);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(lines(r.stdout), [
      build("0.0.0"),
      ...pushLines("0.0.0", "docker.io/scimma/housekeeping", ["0.0.0"]),
    ], input);
  }
});

Deno.test("make -n push: DOCKER and IMAGE are configurable", async () => {
  const r = await makeN("push", "VERSION=1.0.0", "DOCKER=podman", "IMAGE=hk", "REGISTRIES=quay.io/x/hk");
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(lines(r.stdout), [
    "podman build --pull --build-arg VERSION=1.0.0 --tag hk:1.0.0 .",
    "podman tag hk:1.0.0 quay.io/x/hk:1.0.0",
    "podman push quay.io/x/hk:1.0.0",
    "podman tag hk:1.0.0 quay.io/x/hk:1.0",
    "podman push quay.io/x/hk:1.0",
    "podman tag hk:1.0.0 quay.io/x/hk:1",
    "podman push quay.io/x/hk:1",
  ]);
});

// Each bad input, the message fragment that explains it, and that make stops (exit 2) before printing any command.
const REFUSED: [string[], RegExp][] = [
  [["GITHUB_REF=housekeeping-1.2"], /version '1\.2' needs three numbers, X\.Y\.Z/],
  [["VERSION=1"], /version '1' needs three numbers/],
  [["GITHUB_REF=v1.2.3-rc1"], /'1\.2\.3-rc1' has a pre-release or build suffix/],
  [["VERSION=1.2.3-rc1"], /pre-release or build suffix/],
  [["VERSION=1.2.3+build5"], /pre-release or build suffix/],
  [["VERSION=v1.2.3"], /leading v: give VERSION=1\.2\.3/],
  [["VERSION=01.2.3"], /leading zero/],
  [["VERSION=0.3.1"], /version 0\.3\.1 follows no convention: use 0\.0\.0 \(development\), 0\.8\.Z/],
  [["VERSION=0.0.1"], /version 0\.0\.1 follows no convention/],
  [["VERSION=latest"], /'latest' is not a version/],
  [["VERSION=1.2.3.4"], /'1\.2\.3\.4' is not a version/],
  [
    ["GITHUB_REF=refs/heads/main"],
    /GITHUB_REF=refs\/heads\/main is not a release tag: expected housekeeping-X\.Y\.Z/,
  ],
  [["GITHUB_REF=release-1.2.3"], /is not a release tag/],
  [["VERSION=1.2.3", "GITHUB_REF=housekeeping-1.2.4"], /disagree/],
  [[], /no release version: give GITHUB_REF=housekeeping-X\.Y\.Z \(or VERSION=X\.Y\.Z\)/],
  // Shell quoting in the value is passed through as text, never run.
  [["VERSION=1.2.3'; touch /tmp/hk-makefile-test-pwned; '"], /is not a version/],
];

for (const [args, message] of REFUSED) {
  Deno.test(`make -n push refuses ${args.join(" ") || "a missing version"}`, async () => {
    const r = await makeN("push", ...args);
    assert.equal(r.code, 2, `${r.stdout}\n${r.stderr}`);
    assert.equal(r.stdout, "", "no command may be printed before the refusal");
    assert.match(r.stderr, /^Makefile:\d+: \*\*\* /);
    assert.match(r.stderr, message);
    assert.equal(await exists("/tmp/hk-makefile-test-pwned"), false);
  });
}

Deno.test("make -n: a bad VERSION stops container, binary and version too", async () => {
  for (const target of ["container", "binary", "version"]) {
    const r = await makeN(target, "VERSION=1.2");
    assert.equal(r.code, 2, target);
    assert.equal(r.stdout, "");
    assert.match(r.stderr, /needs three numbers/);
  }
});

Deno.test("make -n container and binary: the stamped version reaches docker build and a staged copy", async () => {
  const c = await makeN("container", "GITHUB_REF=refs/tags/housekeeping-1.4.2");
  assert.equal(c.code, 0, c.stderr);
  assert.deepEqual(lines(c.stdout), [build("1.4.2")]);

  const b = await makeN("binary", "VERSION=1.4.2");
  assert.equal(b.code, 0, b.stderr);
  assert.deepEqual(lines(b.stdout), [
    "rm -rf dist/stage",
    "mkdir -p dist/stage/testdata",
    "cp -R main.ts lib deno.json deno.lock dist/stage/",
    "cp -R testdata/samples dist/stage/testdata/",
    "scripts/stamp-version.sh 1.4.2 dist/stage/lib/version.ts",
    "scripts/deno.sh task --config dist/stage/deno.json compile",
    "mv dist/stage/dist/housekeeping dist/housekeeping",
    "rm -rf dist/stage",
    "dist/housekeeping --version",
  ]);
});

Deno.test("make -n container: CI's branch refs do not name a version, malformed tag refs are refused", async () => {
  const described = (await run(`${ROOT}scripts/version.sh`, ["build", "", ""])).stdout.trim();
  for (const ref of ["refs/heads/main", "refs/pull/12/merge"]) {
    const r = await makeN("container", `GITHUB_REF=${ref}`);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(lines(r.stdout), [build(described)], ref);
  }
  for (const ref of ["refs/tags/nightly", "housekeeping-1.2", "v1.2.3-rc1"]) {
    const r = await makeN("container", `GITHUB_REF=${ref}`);
    assert.equal(r.code, 2, ref);
    assert.equal(r.stdout, "");
  }
});

Deno.test("make version prints the version and the tags a release would push", async () => {
  const r = await run("make", ["--no-print-directory", "-s", "version", "GITHUB_REF=housekeeping-1.2.3"]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, "version: 1.2.3\ntags: 1.2.3 1.2 1\n");
});

Deno.test("make -n: the existing targets keep their commands", async () => {
  const expect: Record<string, string[]> = {
    test: ["scripts/test.sh"],
    run: ["scripts/run-demo.sh"],
    deno: ["scripts/deno.sh --version"],
    services: ["scripts/services.sh up"],
    "services-down": ["scripts/services.sh down"],
    check: ["scripts/deno.sh task check"],
  };
  for (const [target, commands] of Object.entries(expect)) {
    const r = await makeN(target);
    assert.equal(r.code, 0, `${target}: ${r.stderr}`);
    assert.deepEqual(lines(r.stdout), commands, target);
  }
});

Deno.test("deno.json compile task: every permission, the lockfile as is, mock-hop's samples, output dist/housekeeping", async () => {
  const config = JSON.parse(await Deno.readTextFile(`${ROOT}deno.json`));
  assert.equal(
    config.tasks.compile,
    "deno compile --allow-all --frozen --include testdata/samples --output dist/housekeeping main.ts",
  );
});

// ------------------------------------------------------------------------------------------- scripts/version.sh

async function tempRepo(): Promise<{ dir: string; git: (...args: string[]) => Promise<string> }> {
  const dir = await Deno.makeTempDir({ prefix: "hk-version-" });
  const git = async (...args: string[]) => {
    const r = await run("git", ["-c", "user.name=t", "-c", "user.email=t@example.org", ...args], dir);
    assert.equal(r.code, 0, `git ${args.join(" ")}: ${r.stderr}`);
    return r.stdout.trim();
  };
  await git("init", "-q");
  return { dir, git };
}

Deno.test("version.sh build: git describe for builds without VERSION or GITHUB_REF", async () => {
  const { dir, git } = await tempRepo();
  try {
    const describe = async () => {
      const r = await run(`${ROOT}scripts/version.sh`, ["build", "", ""], dir);
      assert.equal(r.code, 0, r.stderr);
      return r.stdout.trim();
    };
    await Deno.writeTextFile(`${dir}/a`, "1");
    await git("add", "a");
    await git("commit", "-q", "-m", "one");
    const sha1 = await git("rev-parse", "--short=7", "HEAD");
    assert.equal(await describe(), `0.0.0-dev-g${sha1}`);

    await git("tag", "-a", "v1.2.3", "-m", "release");
    assert.equal(await describe(), "1.2.3");

    await Deno.writeTextFile(`${dir}/a`, "2");
    assert.equal(await describe(), "1.2.3-dirty");
    await git("commit", "-q", "-am", "two");
    const sha2 = await git("rev-parse", "--short=7", "HEAD");
    assert.equal(await describe(), `1.2.3-1-g${sha2}`);

    await git("tag", "-a", "housekeeping-1.3.0", "-m", "release");
    assert.equal(await describe(), "1.3.0");
    // Other tags are not versions.
    await git("tag", "-a", "nightly", "-m", "not a release");
    assert.equal(await describe(), "1.3.0");

    // Given inputs win over git.
    const given = await run(`${ROOT}scripts/version.sh`, ["build", "2.0.0", ""], dir);
    assert.equal(given.stdout, "2.0.0\n");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("version.sh build outside a git checkout: 0.0.0-dev", async () => {
  const dir = await Deno.makeTempDir({ prefix: "hk-version-" });
  try {
    // The ceiling keeps git from finding a repository above the temporary directory.
    const parent = dir.replace(/\/[^/]*$/, "");
    const r = await run(`${ROOT}scripts/version.sh`, ["build", "", ""], dir, {
      GIT_CEILING_DIRECTORIES: parent,
    });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, "0.0.0-dev\n");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("version.sh tags and usage", async () => {
  const tags = async (v: string) => (await run(`${ROOT}scripts/version.sh`, ["tags", v])).stdout.trim();
  assert.equal(await tags("0.0.0"), "0.0.0");
  assert.equal(await tags("0.8.0"), "0.8.0 0.8");
  assert.equal(await tags("1.0.0"), "1.0.0 1.0 1");
  assert.equal(await tags("12.34.56"), "12.34.56 12.34 12");
  const bad = await run(`${ROOT}scripts/version.sh`, ["bogus"]);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /^usage: /);
});

// ---------------------------------------------------------------------------------------- scripts/stamp-version.sh

/** A copy of the entry point and its sources, as `make binary` stages it. */
async function stagedCopy(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "hk-stage-" });
  const r = await run("cp", ["-R", "main.ts", "lib", "deno.json", "deno.lock", dir]);
  assert.equal(r.code, 0, r.stderr);
  await Deno.mkdir(`${dir}/testdata`);
  const samples = await run("cp", ["-R", "testdata/samples", `${dir}/testdata/`]);
  assert.equal(samples.code, 0, samples.stderr);
  return dir;
}

/**
 * mock-hop reads its samples before it connects, so with an unreachable broker a program that carries its samples
 * fails on Kafka, and one that lacks them fails with MOCK_SAMPLES_MISSING. Run from `/` so no relative path helps.
 */
async function assertSamplesShipped(program: string, args: string[]): Promise<void> {
  const r = await run(program, [...args, "mock-hop", "--count", "1", "--brokers", "127.0.0.1:1"], "/");
  assert.equal(r.code, 1, r.stderr);
  assert.doesNotMatch(r.stderr, /MOCK_SAMPLES_MISSING/);
  assert.match(r.stderr, /\[KAFKA_[A-Z_]+\]/);
}

Deno.test("stamp-version.sh changes only the version literal, and `deno run` of the staged entry point prints it", async () => {
  const dir = await stagedCopy();
  try {
    const before = await Deno.readTextFile(`${dir}/lib/version.ts`);
    const r = await run(`${ROOT}scripts/stamp-version.sh`, ["1.2.3", `${dir}/lib/version.ts`]);
    assert.equal(r.code, 0, r.stderr);
    const after = await Deno.readTextFile(`${dir}/lib/version.ts`);
    assert.equal(after, before.replace(/export const VERSION = "[^"]*";/, 'export const VERSION = "1.2.3";'));
    assert.notEqual(after, before);

    const deno = Deno.execPath();
    const v = await run(deno, ["run", "--allow-all", "--frozen", `${dir}/main.ts`, "--version"], dir);
    assert.equal(v.code, 0, v.stderr);
    assert.equal(v.stdout, "housekeeping 1.2.3\n");
    // Every sub-command the binary ships answers --help from the same entry point.
    const help = await run(
      deno,
      ["run", "--allow-all", "--frozen", `${dir}/main.ts`, "healthz", "--help"],
      dir,
    );
    assert.equal(help.code, 0, help.stderr);
    assert.match(help.stdout, /^Usage: housekeeping healthz/);
    await assertSamplesShipped(deno, ["run", "--allow-all", "--frozen", `${dir}/main.ts`]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("stamp-version.sh refuses what cannot be a TypeScript string or a docker tag, and unknown files", async () => {
  const dir = await stagedCopy();
  try {
    const file = `${dir}/lib/version.ts`;
    const before = await Deno.readTextFile(file);
    for (const bad of ['1.2.3"; evil()', "1.2 3", "-1.2.3", "1.2.3+b"]) {
      const r = await run(`${ROOT}scripts/stamp-version.sh`, [bad, file]);
      assert.equal(r.code, 1, bad);
      assert.match(r.stderr, /may contain only letters, digits/);
    }
    assert.equal(await Deno.readTextFile(file), before);

    await Deno.writeTextFile(`${dir}/other.ts`, "export const X = 1;\n");
    const r = await run(`${ROOT}scripts/stamp-version.sh`, ["1.2.3", `${dir}/other.ts`]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /has no single line matching/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the committed lib/version.ts carries the development stamp", async () => {
  const text = await Deno.readTextFile(`${ROOT}lib/version.ts`);
  assert.match(text, /^export const VERSION = "0\.0\.0-dev";$/m);
});

// The executable needs denort, which `deno compile` downloads from dl.deno.land; where that is unreachable, set
// DENORT_BIN to a denort binary of the same Deno version. Without it, the `deno run` tests above cover the entry point.
Deno.test({
  name: "make binary: the compiled executable prints its stamped version (needs DENORT_BIN)",
  ignore: !Deno.env.get("DENORT_BIN"),
  async fn() {
    const r = await new Deno.Command("make", {
      args: ["--no-print-directory", "binary", "VERSION=0.8.99"],
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(r.code, 0, decoder.decode(r.stderr));
    const v = await run(`${ROOT}dist/housekeeping`, ["--version"]);
    assert.equal(v.stdout, "housekeeping 0.8.99\n");
    const help = await run(`${ROOT}dist/housekeeping`, ["--help"]);
    for (const name of ["archive", "mock-hop", "healthz"]) {
      assert.match(help.stdout, new RegExp(`^  ${name} `, "m"));
    }
    await assertSamplesShipped(`${ROOT}dist/housekeeping`, []);
  },
});
