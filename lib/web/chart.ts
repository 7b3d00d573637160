// Messages per day as an inline SVG bar chart drawn here: no script, no library, no style attribute (the page's
// Content-Security-Policy allows none); colours come from the served style sheet through class names.
import { html, type Safe } from "./escape.ts";

export const DAY_MS = 86_400_000n;

/** YYYY-MM-DD of a day number (days since 1970-01-01 UTC). */
export function dayText(day: bigint): string {
  return new Date(Number(day * DAY_MS)).toISOString().slice(0, 10);
}

/** The day number of YYYY-MM-DD, or null for anything else. */
export function parseDay(text: string | null): bigint | null {
  if (text === null || !/^\d{4}-\d{2}-\d{2}$/.test(text)) return null;
  const ms = Date.parse(`${text}T00:00:00Z`);
  return Number.isNaN(ms) ? null : BigInt(ms) / DAY_MS;
}

const WIDTH = 720;
const HEIGHT = 160;
const PAD = { left: 44, right: 8, top: 8, bottom: 22 };

/** Bars of `counts` (day -> messages) from fromDay to toDay inclusive, with a text alternative. */
export function dayChart(counts: Map<bigint, bigint>, fromDay: bigint, toDay: bigint, label: string): Safe {
  const days = Number(toDay - fromDay + 1n);
  let max = 0n;
  let total = 0n;
  for (let d = fromDay; d <= toDay; d++) {
    const n = counts.get(d) ?? 0n;
    if (n > max) max = n;
    total += n;
  }
  const plotW = WIDTH - PAD.left - PAD.right;
  const plotH = HEIGHT - PAD.top - PAD.bottom;
  const step = plotW / Math.max(1, days);
  const barW = Math.max(0.5, step * 0.8);
  const bars: Safe[] = [];
  for (let i = 0; i < days; i++) {
    const day = fromDay + BigInt(i);
    const n = counts.get(day) ?? 0n;
    if (n === 0n) continue;
    const h = max === 0n ? 0 : Math.max(1, Number(n) / Number(max) * plotH);
    const x = PAD.left + i * step + (step - barW) / 2;
    bars.push(
      html`
        <rect class="bar" x="${x.toFixed(2)}" y="${(PAD.top + plotH - h).toFixed(2)}" width="${barW.toFixed(
          2,
        )}" height="${h.toFixed(2)}">
          <title>${dayText(day)}: ${n.toString()} messages</title>
        </rect>
      `,
    );
  }
  const axisY = PAD.top + plotH;
  const summary = `${label}: ${total.toString()} messages from ${dayText(fromDay)} to ${
    dayText(toDay)
  }, at most ${max.toString()} a day`;
  return html`
    <figure class="chart">
      <svg viewBox="0 0 ${WIDTH} ${HEIGHT}" role="img" aria-label="${summary}">
    <line class="axis" x1="${PAD.left}" y1="${axisY}" x2="${WIDTH - PAD.right}" y2="${axisY}"></line>
    <text class="tick" x="${PAD.left - 4}" y="${PAD.top + 10}" text-anchor="end">${max.toString()}</text>
    <text class="tick" x="${PAD.left - 4}" y="${axisY}" text-anchor="end">0</text>
    <text class="tick" x="${PAD.left}" y="${HEIGHT - 6}">${dayText(fromDay)}</text>
    <text class="tick" x="${WIDTH - PAD.right}" y="${HEIGHT - 6}" text-anchor="end">${dayText(toDay)}</text>
    ${bars}
      </svg>
      <figcaption>${summary}</figcaption>
    </figure>
  `;
}
