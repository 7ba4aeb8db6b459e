import { median } from '../stats/summary.js';
import { fmt } from './format.js';

const escXml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');

/** Value axis of a chart: the data's range widened by a fraction on each side (a constant gets +-1). */
function paddedRange(values: number[], fraction: number): [number, number] {
  let lo = Math.min(...values);
  let hi = Math.max(...values);
  if (!(hi > lo)) {
    lo -= 1;
    hi += 1;
  }
  const pad = (hi - lo) * fraction;
  return [lo - pad, hi + pad];
}

/**
 * An SVG strip chart of the current samples against the baseline samples on one value axis,
 * with medians marked: the picture a reviewer needs to trust (or doubt) a verdict.
 */
export function samplesChart(o: { title: string; unit: string; baseline: number[]; current: number[]; baselineLabel: string; currentLabel: string }): string {
  const W = 640;
  const H = 180;
  const left = 120;
  const right = 24;
  const [lo, hi] = paddedRange([...o.baseline, ...o.current], 0.08);
  const x = (v: number) => left + ((v - lo) / (hi - lo)) * (W - left - right);
  const row = (xs: number[], y: number, color: string, label: string) => {
    const dots = xs.map((v, i) => `<circle cx="${x(v).toFixed(1)}" cy="${(y + ((i % 3) - 1) * 5).toFixed(1)}" r="4.5" fill="${color}" fill-opacity="0.75"><title>${fmt(v)} ${escXml(o.unit)}</title></circle>`).join('');
    const m = median(xs);
    const medLine = Number.isFinite(m) ? `<line x1="${x(m).toFixed(1)}" x2="${x(m).toFixed(1)}" y1="${y - 16}" y2="${y + 16}" stroke="${color}" stroke-width="2"/><text x="${(x(m) + 4).toFixed(1)}" y="${y - 18}" font-size="11" fill="${color}">median ${fmt(m)}</text>` : '';
    return `<text x="8" y="${y + 4}" font-size="12">${escXml(label)}</text>${dots}${medLine}`;
  };
  const ticks = Array.from({ length: 5 }, (_, i) => lo + ((hi - lo) * i) / 4)
    .map((v) => `<line x1="${x(v)}" x2="${x(v)}" y1="140" y2="145" stroke="#555"/><text x="${x(v)}" y="160" font-size="11" text-anchor="middle">${fmt(v)}</text>`)
    .join('');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif">
<rect width="${W}" height="${H}" fill="#fff"/>
<text x="8" y="16" font-size="13" font-weight="bold">${escXml(o.title)} (${escXml(o.unit)})</text>
${row(o.baseline, 55, '#1f77b4', o.baselineLabel)}
${row(o.current, 105, '#d62728', o.currentLabel)}
<line x1="${left}" x2="${W - right}" y1="140" y2="140" stroke="#555"/>${ticks}
</svg>
`;
}

/**
 * An SVG line chart of a metric over gate runs (oldest left), change points as dashed lines and
 * the current run ringed: the "when did this start" picture next to a verdict.
 */
export function historyChart(o: { title: string; unit: string; points: { runId: string; value: number }[]; changes: number[]; current?: string }): string {
  const W = 640;
  const H = 200;
  const left = 64;
  const right = 16;
  const top = 28;
  const bottom = 28;
  const vals = o.points.map((p) => p.value);
  const [lo, hi] = paddedRange(vals, 0.1);
  const n = o.points.length;
  const x = (i: number) => left + (n === 1 ? 0 : (i / (n - 1)) * (W - left - right));
  const y = (v: number) => top + (1 - (v - lo) / (hi - lo)) * (H - top - bottom);
  const line = o.points.map((p, i) => `${x(i).toFixed(1)},${y(p.value).toFixed(1)}`).join(' ');
  const dots = o.points
    .map((p, i) => `<circle cx="${x(i).toFixed(1)}" cy="${y(p.value).toFixed(1)}" r="${p.runId === o.current ? 5 : 3}" fill="${p.runId === o.current ? '#fff' : '#1f77b4'}" stroke="#1f77b4" stroke-width="2"><title>${escXml(p.runId)}: ${fmt(p.value)} ${escXml(o.unit)}</title></circle>`)
    .join('');
  const cps = o.changes
    .map((i) => `<line x1="${((x(i - 1) + x(i)) / 2).toFixed(1)}" x2="${((x(i - 1) + x(i)) / 2).toFixed(1)}" y1="${top}" y2="${H - bottom}" stroke="#d62728" stroke-dasharray="5,4"/><text x="${((x(i - 1) + x(i)) / 2 + 3).toFixed(1)}" y="${top + 10}" font-size="10" fill="#d62728">change</text>`)
    .join('');
  const axis = [Math.max(...vals), Math.min(...vals)].map((v) => `<text x="${left - 6}" y="${(y(v) + 4).toFixed(1)}" font-size="10" text-anchor="end">${fmt(v)}</text>`).join('');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif"><rect width="100%" height="100%" fill="#fff"/><text x="8" y="16" font-size="13" font-weight="bold">${escXml(o.title)} (${escXml(o.unit)})</text><line x1="${left}" x2="${left}" y1="${top}" y2="${H - bottom}" stroke="#999"/>${axis}${cps}<polyline points="${line}" fill="none" stroke="#1f77b4" stroke-width="1.5"/>${dots}<text x="${left}" y="${H - 8}" font-size="10">oldest</text><text x="${W - right}" y="${H - 8}" font-size="10" text-anchor="end">newest</text></svg>`;
}
