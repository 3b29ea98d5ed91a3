// Hand-written SVG line chart for the scaling curves: processes on a log2 x axis, scrape time on a
// log10 y axis (the curves span orders of magnitude). No dependency, readable on GitHub.
import type { Curve } from './results.js';

const WIDTH = 720;
const HEIGHT = 420;
const MARGIN = { left: 70, right: 220, top: 40, bottom: 50 };
const COLORS = ['#d62728', '#1f77b4', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b'];

function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function yTicks(min: number, max: number): number[] {
  const ticks: number[] = [];
  for (let exp = Math.floor(Math.log10(min)); exp <= Math.ceil(Math.log10(max)); exp++) {
    for (const m of [1, 2, 5]) {
      const v = m * 10 ** exp;
      if (v >= min && v <= max) ticks.push(v);
    }
  }
  return ticks;
}

function label(v: number): string {
  return v >= 1 ? String(Number(v.toPrecision(3))) : v.toPrecision(1);
}

export interface Axes {
  /** x axis title, and the unit a point's tooltip names (e.g. 'processes'). */
  readonly x: string;
  readonly xUnit: string;
  readonly y: string;
  readonly yUnit: string;
  /** Ticks of the x axis at powers of this base. */
  readonly xBase: 2 | 10;
}

const PROCESSES: Axes = { x: 'processes (log scale)', xUnit: 'processes', y: 'scrape time, ms (log scale)', yUnit: 'ms', xBase: 2 };

export function scalingChart(curves: readonly Curve[], title: string, axes: Axes = PROCESSES): string {
  const lg = (v: number) => Math.log(v) / Math.log(axes.xBase);
  const points = curves.flatMap((c) => c.points).filter(([x, y]) => x > 0 && y > 0);
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="sans-serif" font-size="12">`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="#fff"/>`,
    `<text x="${MARGIN.left}" y="24" font-size="15" font-weight="bold">${escape(title)}</text>`,
  ];
  if (points.length === 0) {
    out.push(`<text x="${MARGIN.left}" y="${HEIGHT / 2}">no figures yet</text>`, '</svg>');
    return out.join('\n');
  }

  const xs = points.map(([x]) => x);
  const ys = points.map(([, y]) => y);
  const xMin = lg(Math.min(...xs));
  const xMax = Math.max(lg(Math.max(...xs)), xMin + 1);
  const yMin = Math.log10(Math.min(...ys) / 1.5);
  const yMax = Math.log10(Math.max(...ys) * 1.5);
  const px = (x: number) => MARGIN.left + ((lg(x) - xMin) / (xMax - xMin)) * plotW;
  const py = (y: number) => MARGIN.top + plotH - ((Math.log10(y) - yMin) / (yMax - yMin)) * plotH;

  // Axes and grid.
  out.push(`<g stroke="#ccc" stroke-width="1">`);
  for (let e = Math.ceil(xMin); e <= Math.floor(xMax); e++) {
    const x = px(axes.xBase ** e).toFixed(1);
    out.push(`<line x1="${x}" y1="${MARGIN.top}" x2="${x}" y2="${MARGIN.top + plotH}"/>`);
  }
  for (const t of yTicks(10 ** yMin, 10 ** yMax)) {
    const y = py(t).toFixed(1);
    out.push(`<line x1="${MARGIN.left}" y1="${y}" x2="${MARGIN.left + plotW}" y2="${y}"/>`);
  }
  out.push('</g>');
  out.push(
    `<rect x="${MARGIN.left}" y="${MARGIN.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#333"/>`,
  );
  for (let e = Math.ceil(xMin); e <= Math.floor(xMax); e++) {
    out.push(`<text x="${px(axes.xBase ** e).toFixed(1)}" y="${MARGIN.top + plotH + 18}" text-anchor="middle">${(axes.xBase ** e).toLocaleString('en-US')}</text>`);
  }
  for (const t of yTicks(10 ** yMin, 10 ** yMax)) {
    out.push(`<text x="${MARGIN.left - 8}" y="${(py(t) + 4).toFixed(1)}" text-anchor="end">${label(t)}</text>`);
  }
  out.push(
    `<text x="${MARGIN.left + plotW / 2}" y="${HEIGHT - 12}" text-anchor="middle">${escape(axes.x)}</text>`,
    `<text transform="translate(18 ${MARGIN.top + plotH / 2}) rotate(-90)" text-anchor="middle">${escape(axes.y)}</text>`,
  );

  // Curves and legend.
  curves.forEach((curve, i) => {
    const color = COLORS[i % COLORS.length] as string;
    const pts = curve.points.filter(([x, y]) => x > 0 && y > 0);
    const legendY = MARGIN.top + 10 + i * 32;
    out.push(
      `<line x1="${WIDTH - MARGIN.right + 16}" y1="${legendY}" x2="${WIDTH - MARGIN.right + 40}" y2="${legendY}" stroke="${color}" stroke-width="2"/>`,
      `<text x="${WIDTH - MARGIN.right + 46}" y="${legendY + 4}">${escape(curve.name)}</text>`,
    );
    if (pts.length === 0) {
      out.push(`<text x="${WIDTH - MARGIN.right + 46}" y="${legendY + 17}" font-size="10" fill="#777">not measured yet</text>`);
      return;
    }
    const path = pts.map(([x, y], j) => `${j === 0 ? 'M' : 'L'}${px(x).toFixed(1)},${py(y).toFixed(1)}`).join(' ');
    out.push(`<path d="${path}" fill="none" stroke="${color}" stroke-width="2"/>`);
    for (const [x, y] of pts) {
      out.push(`<circle cx="${px(x).toFixed(1)}" cy="${py(y).toFixed(1)}" r="3.5" fill="${color}"><title>${escape(curve.name)}: ${x.toLocaleString('en-US')} ${axes.xUnit}, ${label(y)} ${axes.yUnit}</title></circle>`);
    }
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
