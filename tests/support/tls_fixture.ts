// Shared by the TLS tests: a child environment without any of the services' TLS settings (each test adds exactly
// what it means), certificates with one defect each (made with openssl, signed by a CA of the test's own), and a
// TLS front that serves such a certificate in front of the broker's SASL_PLAINTEXT listener, so that a client
// which accepted the certificate would reach a real broker.
import https from "node:https";
import { S3Client } from "@aws-sdk/client-s3";
import { archiveEnv, dropBucket } from "./archive_helpers.ts";
import { serviceEnv } from "./helpers.ts";

/** archiveEnv() without the services' CA settings and credentials. */
export function tlsBaseEnv(): Record<string, string> {
  const env = archiveEnv();
  for (
    const name of ["KAFKA_SECURITY_PROTOCOL", "KAFKA_CA_FILE", "AWS_CA_BUNDLE", "PGSSLROOTCERT", "PGSSLMODE"]
  ) {
    delete env[name];
  }
  return env;
}

async function openssl(dir: string, ...args: string[]): Promise<void> {
  const out = await new Deno.Command("openssl", { args, cwd: dir, stdout: "piped", stderr: "piped" })
    .output();
  if (!out.success) throw new Error(`openssl ${args[0]} failed: ${new TextDecoder().decode(out.stderr)}`);
}

export interface BadCertificates {
  /** PEM of the test's own CA, which signed the certificates below. */
  caFile: string;
  /** Valid now, for 127.0.0.1 and localhost: what a correct server presents. */
  good: { cert: string; key: string };
  /** Valid now, but only for broker.example.org. */
  wrongHost: { cert: string; key: string };
  /** For 127.0.0.1 and localhost, but expired in 2020. */
  expired: { cert: string; key: string };
}

/** A CA of its own and three server certificates in `dir`. */
export async function makeBadCertificates(dir: string): Promise<BadCertificates> {
  await openssl(
    dir,
    ...[
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-days",
      "30",
      "-keyout",
      "ca.key",
      "-out",
      "ca.crt",
    ],
    ...["-subj", "/CN=another test CA", "-addext", "basicConstraints=critical,CA:TRUE"],
    ...["-addext", "keyUsage=critical,keyCertSign,cRLSign"],
  );
  await Deno.writeTextFile(
    `${dir}/ca.cnf`,
    "[ca]\ndefault_ca = test\n[test]\ndatabase = index.txt\nnew_certs_dir = .\nserial = serial\n" +
      "default_md = sha256\npolicy = any\nunique_subject = no\n[any]\ncommonName = supplied\n",
  );
  await Deno.writeTextFile(`${dir}/index.txt`, "");
  await Deno.writeTextFile(`${dir}/serial`, "1000\n");
  const make = async (name: string, san: string, dates: string[]) => {
    await openssl(
      dir,
      "req",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      `${name}.key`,
      "-out",
      `${name}.csr`,
      "-subj",
      "/CN=server",
    );
    await Deno.writeTextFile(
      `${dir}/${name}.ext`,
      `basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\nsubjectAltName=${san}\n`,
    );
    await openssl(
      dir,
      ...["ca", "-batch", "-config", "ca.cnf", "-cert", "ca.crt", "-keyfile", "ca.key", "-in", `${name}.csr`],
      ...["-out", `${name}.crt`, "-extfile", `${name}.ext`, "-notext", ...dates],
    );
    return {
      cert: await Deno.readTextFile(`${dir}/${name}.crt`),
      key: await Deno.readTextFile(`${dir}/${name}.key`),
    };
  };
  const here = "IP:127.0.0.1,DNS:localhost";
  return {
    caFile: `${dir}/ca.crt`,
    good: await make("good", here, ["-days", "30"]),
    wrongHost: await make("wrong-host", "DNS:broker.example.org", ["-days", "30"]),
    expired: await make("expired", here, ["-startdate", "20200101000000Z", "-enddate", "20200201000000Z"]),
  };
}

export interface TlsFront {
  address: string;
  close(): void;
}

/** A TLS server with `certificate` on an ephemeral port that forwards what it decrypts to `upstream`. */
export function tlsFront(
  certificate: { cert: string; key: string },
  upstream = serviceEnv("KAFKA_SASL_BROKERS"),
): TlsFront {
  const listener = Deno.listenTls({ hostname: "127.0.0.1", port: 0, ...certificate });
  const [host, port] = upstream.split(":");
  const open = new Set<Deno.Conn>();
  (async () => {
    for await (const conn of listener) {
      open.add(conn);
      (async () => {
        try {
          await conn.handshake();
          const back = await Deno.connect({ hostname: host!, port: Number(port) });
          open.add(back);
          await Promise.all([conn.readable.pipeTo(back.writable), back.readable.pipeTo(conn.writable)]);
        } catch {
          /* the client refused our certificate, or hung up */
        } finally {
          for (const c of open) if (c === conn) open.delete(c);
        }
      })();
    }
  })().catch(() => {});
  return {
    address: `127.0.0.1:${(listener.addr as Deno.NetAddr).port}`,
    close() {
      listener.close();
      for (const c of open) {
        try {
          c.close();
        } catch { /* closed already */ }
      }
    },
  };
}

function tlsS3Client(): S3Client {
  return new S3Client({
    endpoint: serviceEnv("S3_SSL_ENDPOINT"),
    forcePathStyle: true,
    region: serviceEnv("AWS_REGION"),
    requestHandler: {
      httpsAgent: new https.Agent({ ca: Deno.readTextFileSync(serviceEnv("AWS_CA_BUNDLE")) }),
    },
  });
}

/** Empties and removes a bucket of the HTTPS MinIO. */
export function dropTlsBucket(bucket: string): Promise<void> {
  return dropBucket(bucket, tlsS3Client());
}
