// `healthz`: asks a running archiver's /healthz and exits 0 only on 200. The container image is distroless (no
// shell, no curl), so its HEALTHCHECK runs the binary itself; the archiver's --http-port / HTTP_PORT names the port.
import type { Command } from "../cli/command.ts";
import { parseCommandArgs } from "../cli/config.ts";
import { intInRange, LIMITS, usageError } from "../cli/flags.ts";
import { optionsHelp, optionSpec, type OptionTable, readOptions } from "../cli/options.ts";
import { errorMessage } from "../runtime/errors.ts";
import { maskSecrets } from "../runtime/secrets.ts";

const HEALTHZ_OPTIONS = {
  url: {
    type: "string",
    arg: "URL",
    help: "endpoint to ask (default http://127.0.0.1:$HTTP_PORT/healthz) [env HTTP_PORT, as for archive]",
  },
  timeout: {
    type: "string",
    arg: "SECONDS",
    default: 5,
    help: "give up after this long",
    parse: { int: "timeoutSeconds" },
  },
} as const satisfies OptionTable;

const OPTIONS = optionSpec(HEALTHZ_OPTIONS);

export interface HealthzOptions {
  url: string;
  timeoutMs: number;
}

/** Pure: argv + environment -> the URL to ask and how long to wait. */
export function parseHealthzArgs(argv: string[], env: Record<string, string | undefined>): HealthzOptions {
  const { values } = parseCommandArgs("healthz", argv, OPTIONS);
  const { url, timeout } = readOptions("healthz", HEALTHZ_OPTIONS, values, env);
  const timeoutMs = timeout * 1000;
  if (url !== undefined) {
    if (!URL.canParse(url)) {
      throw usageError("healthz", `--url "${url}" is not a URL`);
    }
    return { url, timeoutMs };
  }
  const port = env.HTTP_PORT;
  if (port === undefined || port === "") {
    throw usageError("healthz", "no endpoint to ask: set HTTP_PORT (as for `archive`) or pass --url");
  }
  return {
    url: `http://127.0.0.1:${
      intInRange({ command: "healthz", flag: "http-port", env: "HTTP_PORT" }, port, LIMITS.port, 0)
    }/healthz`,
    timeoutMs,
  };
}

export const command: Command = {
  name: "healthz",
  summary: "exit 0 when a running archiver reports healthy (container health checks)",
  help: `Usage: housekeeping healthz [--url URL] [--timeout SECONDS]

Asks a running \`housekeeping archive\` for GET /healthz and exits 0 when it answers 200 (consuming), 1 otherwise
(503 while it is not consuming, no answer, timeout). For health checks where no curl exists, as in the container
image, whose HEALTHCHECK runs \`/housekeeping healthz\`.

Options:
${optionsHelp(HEALTHZ_OPTIONS, { column: 21 })}

Examples:
  HTTP_PORT=8080 housekeeping healthz
  housekeeping healthz --url http://archiver:8080/healthz
`,
  async run(argv, ctx) {
    const { url, timeoutMs } = parseHealthzArgs(argv, ctx.env);
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
      const body = (await response.text()).trim();
      ctx.stdout(maskSecrets(`${url}: ${response.status}${body === "" ? "" : ` ${body}`}\n`));
      return response.status === 200 ? 0 : 1;
    } catch (e) {
      ctx.stdout(maskSecrets(`${url}: no answer: ${errorMessage(e)}\n`));
      return 1;
    }
  },
};
