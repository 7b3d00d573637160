// The frame of every page: the search box, sign-in or sign-out, and the headers that keep a page inert whatever it
// shows: a Content-Security-Policy allowing only this server's style sheet and script (no inline script or style,
// no frames, forms posting only here), no MIME sniffing, no referrer leaving the site.
import { html, type Safe } from "./escape.ts";

export const CSP = [
  "default-src 'none'",
  "style-src 'self'",
  "script-src 'self'",
  "img-src 'self'",
  "connect-src 'none'",
  "form-action 'self'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join("; ");

export const PAGE_HEADERS: Record<string, string> = {
  "content-security-policy": CSP,
  "x-content-type-options": "nosniff",
  "referrer-policy": "same-origin",
  "x-frame-options": "DENY",
  "cache-control": "no-store",
};

export interface Frame {
  title: string;
  /** The search box's text. */
  query?: string;
  /** Signed in: the sign-out form's CSRF token; null: not signed in. */
  csrf: string | null;
}

export function page(frame: Frame, body: Safe): string {
  const who = frame.csrf === null ? html`<a href="/web/signin">Sign in</a>` : html`
    <span>Signed in</span><form method="post"
      action="/web/signout"><input type="hidden" name="csrf" value="${frame
        .csrf}"><button type="submit">Sign out</button></form>
  `;
  return html`
    <!doctype html>
    <html lang="en">
      <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <meta name="color-scheme" content="light dark">
        <title>${frame.title} · Hopskotch archive</title>
        <link rel="stylesheet" href="/web/style.css">
        <link rel="icon" href="/web/icon.svg" type="image/svg+xml">
        <script src="/web/app.js" defer></script>
      </head>
      <body>
        <a class="skip" href="#main">Skip to content</a>
        <header class="site">
          <a class="brand" href="/">Hopskotch archive</a>
          <form class="search" method="get" action="/web/search" role="search">
            <label class="skip" for="q">Search</label>
            <input id="q" name="q" type="search" value="${frame.query ??
              ""}" placeholder="Words, UUID or sender"
              maxlength="512">
            <button type="submit">Search</button>
          </form>
          <div class="who">${who}</div>
        </header>
        <main id="main">
        ${body}
            </main>
      </body>
    </html>
  `.__safe;
}

export function htmlResponse(body: string, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(body, {
    status,
    headers: { ...PAGE_HEADERS, "content-type": "text/html; charset=utf-8", ...headers },
  });
}
