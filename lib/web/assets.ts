// The pages' one style sheet and one script, served by `serve` itself (no CDN, no web fonts, no build step). The
// script only adds copy buttons: every page works without it.

export const STYLE_CSS =
  `:root { color-scheme: light dark; --bg: #fdfdfc; --fg: #1b1f24; --muted: #5b6470; --line: #d8dde3;
  --accent: #0b5cad; --bar: #2f7bc4; --soft: #eef2f6; --warn: #9a3412; --ctl-bg: #fde68a; --ctl-fg: #5b3a00;
  --mark-bg: #fff0a0; }
@media (prefers-color-scheme: dark) {
  :root { --bg: #14171b; --fg: #e6e9ed; --muted: #9aa4b1; --line: #323a44; --accent: #7cb8ff; --bar: #5aa0e6;
    --soft: #1e242b; --warn: #fdba74; --ctl-bg: #713f12; --ctl-fg: #fde68a; --mark-bg: #6b5a00; }
}
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--fg); font: 16px/1.5 system-ui, -apple-system, "Segoe UI",
  Roboto, "Noto Sans", sans-serif; }
a { color: var(--accent); }
a:focus-visible, button:focus-visible, input:focus-visible, summary:focus-visible { outline: 3px solid var(--accent);
  outline-offset: 2px; }
.skip { position: absolute; left: -999px; }
.skip:focus { left: 8px; top: 8px; background: var(--bg); padding: 4px 8px; z-index: 1; }
header.site { display: flex; flex-wrap: wrap; gap: 8px 16px; align-items: center; padding: 10px 16px;
  border-bottom: 1px solid var(--line); }
header.site .brand { font-weight: 700; text-decoration: none; color: var(--fg); }
header.site form.search { display: flex; gap: 6px; flex: 1 1 260px; max-width: 520px; }
header.site form.search input { flex: 1; min-width: 0; }
header.site .who { margin-left: auto; display: flex; gap: 8px; align-items: center; color: var(--muted); }
input, button { font: inherit; color: inherit; background: var(--bg); border: 1px solid var(--line);
  border-radius: 6px; padding: 4px 8px; }
button { cursor: pointer; background: var(--soft); }
main { padding: 12px 16px 40px; max-width: 1280px; margin: 0 auto; }
h1 { font-size: 1.4rem; margin: 8px 0 12px; overflow-wrap: anywhere; }
h2 { font-size: 1.1rem; margin: 20px 0 8px; }
.muted { color: var(--muted); }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-size: 0.92rem; }
th, td { text-align: left; padding: 6px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { color: var(--muted); font-weight: 600; white-space: nowrap; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.text { max-width: 28ch; overflow-wrap: break-word; }
td.uuid, code, pre { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; }
td.uuid { font-size: 0.85rem; white-space: nowrap; }
pre { background: var(--soft); padding: 10px; border-radius: 6px; overflow: auto; max-height: 70vh;
  font-size: 0.85rem; white-space: pre; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 4px 16px; margin: 0; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; overflow-wrap: anywhere; }
.ctl { background: var(--ctl-bg); color: var(--ctl-fg); border-radius: 3px; padding: 0 2px; font-size: 0.8em;
  font-family: ui-monospace, monospace; }
.badge { display: inline-block; font-size: 0.75rem; padding: 0 6px; border-radius: 9px; border: 1px solid var(--line);
  color: var(--muted); }
.retracted { color: var(--warn); border-color: var(--warn); }
.notice { border-left: 4px solid var(--warn); padding: 6px 12px; background: var(--soft); }
nav.pages { display: flex; gap: 16px; margin: 12px 0; flex-wrap: wrap; }
form.range { display: flex; flex-wrap: wrap; gap: 8px; align-items: end; margin: 8px 0; }
form.range label { display: flex; flex-direction: column; font-size: 0.85rem; color: var(--muted); }
figure.chart { margin: 8px 0 16px; }
figure.chart svg { width: 100%; height: auto; max-height: 200px; display: block; }
figure.chart figcaption { font-size: 0.85rem; color: var(--muted); }
.bar { fill: var(--bar); }
.axis { stroke: var(--line); }
.tick { fill: var(--muted); font-size: 11px; }
.downloads { display: flex; flex-wrap: wrap; gap: 12px; }
.snippet { position: relative; }
tr.hit td { border-bottom: none; }
tr.excerpt td { padding-top: 0; color: var(--muted); font-size: 0.88rem; }
tr.excerpt p { margin: 0; max-width: min(110ch, calc(100vw - 48px)); overflow-wrap: anywhere; }
mark { background: var(--mark-bg); color: var(--fg); border-radius: 2px; padding: 0 1px; }
.truncated { max-width: 60ch; overflow-wrap: anywhere; }
@media (max-width: 640px) {
  body { font-size: 15px; }
  header.site .who { margin-left: 0; }
  dl.facts { grid-template-columns: 1fr; }
  dl.facts dd { margin-bottom: 6px; }
  td.text { max-width: 22ch; }
  .wide { display: none; }
  main { padding: 8px 10px 32px; }
}
`;

export const APP_JS = `"use strict";
// Copy buttons for code blocks; without this script the text is still there to select.
for (const button of document.querySelectorAll("button[data-copy]")) {
  button.hidden = false;
  button.addEventListener("click", async () => {
    const source = document.getElementById(button.dataset.copy);
    if (!source || !navigator.clipboard) return;
    try {
      await navigator.clipboard.writeText(source.textContent);
      button.textContent = "Copied";
    } catch {
      button.textContent = "Select and copy";
    }
  });
}
`;

/** The tab's icon: a hopscotch square; served so that a browser does not ask for /favicon.ico. */
export const ICON_SVG =
  `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect x="1" y="1" width="14" height="14" rx="3" fill="#2f7bc4"/>` +
  `<path d="M5 4v8M11 4v8M5 8h6" stroke="#fff" stroke-width="2"/></svg>`;
