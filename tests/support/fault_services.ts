// A private Kafka + MinIO + PostgreSQL for fault tests. Fault tests stop, kill and restart services; doing that to
// the shared services (scripts/services.sh defaults) would break every other test running against them, so these
// run from their own state directory on their own ports, started once per test file and removed at its end.
import { ROOT } from "./archive_helpers.ts";

export type FaultService = "kafka" | "minio" | "postgres";

/** What `scripts/services.sh env` prints for the private set (Kafka credentials left out: PLAINTEXT only). */
export interface FaultEnv extends Record<string, string> {
  KAFKA_BROKERS: string;
  S3_ENDPOINT: string;
  DATABASE_URL: string;
}

export interface FaultServices {
  /** Overrides for archiveEnv() and the helpers' `brokers`, `url` and `endpoint` parameters. */
  env: FaultEnv;
  stateDir: string;
  /** Graceful stop (scripts/services.sh down): SIGTERM for Kafka and MinIO, a fast shutdown for PostgreSQL. */
  stop(service: FaultService): Promise<void>;
  start(service: FaultService): Promise<void>;
  /** Stops everything and deletes the state directory. */
  down(): Promise<void>;
}

// Unusual ports, away from the shared set (19092.., 19000, 19010, 15433). HK_FAULTS_PORT_SHIFT moves all of them, so two
// fault runs (say the quick form and a soak) can share a machine.
const shift = Number(Deno.env.get("HK_FAULTS_PORT_SHIFT") ?? "0");
const PORTS = {
  HK_KAFKA_PORT: 29092 + shift,
  HK_KAFKA_SASL_PORT: 29093 + shift,
  HK_KAFKA_CONTROLLER_PORT: 29094 + shift,
  HK_MINIO_PORT: 29000 + shift,
  HK_PG_PORT: 25433 + shift,
  HK_KAFKA_SSL_PORT: 29095 + shift,
  HK_MINIO_SSL_PORT: 29010 + shift,
};

function portInUse(port: number): boolean {
  try {
    Deno.listen({ hostname: "127.0.0.1", port }).close();
    return false;
  } catch {
    return true;
  }
}

async function servicesSh(args: string[], env: Record<string, string>): Promise<string> {
  const out = await new Deno.Command(`${ROOT}scripts/services.sh`, {
    args,
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  if (!out.success) {
    throw new Error(`scripts/services.sh ${args.join(" ")} failed (${out.code}):\n${dec.decode(out.stderr)}`);
  }
  return dec.decode(out.stdout);
}

export async function startFaultServices(): Promise<FaultServices> {
  const busy = Object.entries(PORTS).filter(([, p]) => portInUse(p));
  if (busy.length > 0) {
    throw new Error(
      `ports ${busy.map(([, p]) => p).join(", ")} are taken (another fault run?); set HK_FAULTS_PORT_SHIFT`,
    );
  }
  const stateDir = `/var/tmp/housekeeping-faults-${Deno.pid}`;
  const scriptEnv = {
    HK_STATE_DIR: stateDir,
    ...Object.fromEntries(Object.entries(PORTS).map(([k, v]) => [k, String(v)])),
  };
  const all: FaultService[] = ["kafka", "minio", "postgres"];
  const down = async () => {
    try {
      await servicesSh(["down", ...all], scriptEnv);
    } finally {
      await Deno.remove(stateDir, { recursive: true }).catch(() => {});
    }
  };
  try {
    await servicesSh(["up", ...all], scriptEnv);
    const env: Record<string, string> = {};
    for (const line of (await servicesSh(["env"], scriptEnv)).split("\n")) {
      const m = /^export ([A-Z_0-9]+)=(.*)$/.exec(line);
      if (m && m[1] !== "KAFKA_USERNAME" && m[1] !== "KAFKA_PASSWORD") env[m[1]!] = m[2]!;
    }
    for (const name of ["KAFKA_BROKERS", "S3_ENDPOINT", "DATABASE_URL"]) {
      if (!env[name]) throw new Error(`scripts/services.sh env printed no ${name}`);
    }
    return {
      env: env as FaultEnv,
      stateDir,
      stop: async (service) => void await servicesSh(["down", service], scriptEnv),
      start: async (service) => void await servicesSh(["up", service], scriptEnv),
      down,
    };
  } catch (e) {
    await down().catch(() => {});
    throw e;
  }
}
