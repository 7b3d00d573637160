// Debian's Chromium driven by puppeteer-core, for the web pages' tests: headless, no sandbox (root in a container),
// nothing that reaches the network (the machine's is closed), a fresh empty profile per browser. Every page opened
// through `watch` records console errors, page errors, dialogs and failed requests, which tests assert are none.
import puppeteer, { type Browser, type Page } from "puppeteer-core";

export const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

export function chromiumPath(): string {
  return Deno.env.get("HOUSEKEEPING_CHROMIUM") ?? "/usr/bin/chromium";
}

export async function withBrowser(fn: (browser: Browser) => Promise<void>): Promise<void> {
  const executable = chromiumPath();
  if (!(await Deno.stat(executable).then((s) => s.isFile, () => false))) {
    throw new Error(
      `no Chromium at ${executable}: run \`scripts/services.sh up chromium\` (Debian's chromium)`,
    );
  }
  const profile = await Deno.makeTempDir({ prefix: "hk-chromium-" });
  const browser = await puppeteer.launch({
    executablePath: executable,
    headless: true,
    args: [...CHROMIUM_ARGS, `--user-data-dir=${profile}`],
    pipe: true,
  });
  try {
    await fn(browser);
  } finally {
    await browser.close();
    await Deno.remove(profile, { recursive: true }).catch(() => {});
  }
}

export interface Watched {
  page: Page;
  /** Console errors, page errors, dialogs: each a line; a test expects none (or exactly those it caused). */
  problems: string[];
}

export async function watch(browser: Browser): Promise<Watched> {
  const page = await browser.newPage();
  const problems: string[] = [];
  page.on("console", (m) => {
    if (m.type() === "error" || m.type() === "warn") problems.push(`console ${m.type()}: ${m.text()}`);
  });
  page.on("pageerror", (e) => problems.push(`page error: ${e instanceof Error ? e.message : String(e)}`));
  page.on("dialog", async (d) => {
    problems.push(`dialog ${d.type()}: ${d.message()}`);
    await d.dismiss();
  });
  // Hostile markup calls alert(): besides the dialog, it leaves a marker a test can read from the page.
  await page.evaluateOnNewDocument(() => {
    const g = globalThis as unknown as Record<string, unknown>;
    for (const name of ["alert", "confirm", "prompt"]) {
      const original = g[name] as (...args: unknown[]) => unknown;
      g[name] = (...args: unknown[]) => {
        g.__hkScriptRan = true;
        return original.apply(globalThis, args);
      };
    }
  });
  return { page, problems };
}
