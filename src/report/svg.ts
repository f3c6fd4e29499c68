// A small SVG chart renderer for the report card: line charts (series over steps) and horizontal bar charts
// (one row per category, one bar per series). Output is standalone SVG 1.1 (well-formed XML, no ids, no
// scripts, no external resources), so the same text works as a file next to report.md and inline in HTML.
//
// Classes name what a reader or a test looks for: `series` polylines (data-series), `point` markers, `bar`
// rects (data-category, data-series), `x-tick` / `y-tick` labels, `value` labels at the end of each bar.

const PALETTE = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#ca8a04", "#db2777"];
const FONT = `font-family="system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif"`;
/** Rough width of one character at font-size 12, for laying out labels without measuring text. */
const CHAR_W = 6.6;

/** Escapes text for XML content and attribute values. */
export function escapeXml(s: string): string {
  return s.replace(
    /[<>&"']/g,
    (c) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&quot;", "'": "&apos;" })[c]!,
  );
}

/** Evenly spaced "nice" tick values (steps of 1, 2 or 5 x 10^k) covering [min, max]. */
export function niceTicks(min: number, max: number, target = 5): { ticks: number[]; step: number } {
  if (!(max > min)) {
    const pad = min === 0 ? 1 : Math.abs(min) * 0.1;
    min -= pad;
    max += pad;
  }
  const raw = (max - min) / Math.max(1, target);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw)!;
  const first = Math.floor(min / step + 1e-9) * step;
  const ticks: number[] = [];
  for (let v = first; v <= max + step * 1e-9; v += step) ticks.push(roundTo(v, step));
  if (ticks[ticks.length - 1] < max - step * 1e-9) ticks.push(roundTo(ticks[ticks.length - 1] + step, step));
  return { ticks, step };
}

function roundTo(v: number, step: number): number {
  const decimals = Math.max(0, -Math.floor(Math.log10(step)) + 1);
  return Number(v.toFixed(Math.min(decimals, 12)));
}

/** A tick label: thousands separators for integers, as many decimals as the tick step needs. */
export function formatTick(v: number, step: number): string {
  const decimals = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
  if (decimals === 0) return Math.round(v).toLocaleString("en-US");
  return v.toFixed(decimals);
}

const n2 = (v: number) => (Math.round(v * 100) / 100).toString();

function header(width: number, height: number, title: string): string[] {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" ` +
    `viewBox="0 0 ${width} ${height}" role="img" aria-label="${escapeXml(title)}">`,
    `<title>${escapeXml(title)}</title>`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="${width / 2}" y="22" text-anchor="middle" font-size="15" font-weight="600" fill="#111827" ` +
    `${FONT}>${escapeXml(title)}</text>`,
  ];
}

/** The legend as one row of swatches and names centered under the title; its height is 20. */
function legend(names: string[], width: number, y: number): string[] {
  const widths = names.map((n) => 22 + n.length * CHAR_W + 14);
  let x = Math.max(8, (width - widths.reduce((a, b) => a + b, 0)) / 2);
  const out: string[] = [];
  names.forEach((name, i) => {
    out.push(
      `<rect x="${n2(x)}" y="${y - 9}" width="14" height="10" rx="2" fill="${PALETTE[i % PALETTE.length]}"/>`,
      `<text class="legend" x="${n2(x + 20)}" y="${y}" font-size="12" fill="#374151" ${FONT}>` +
        `${escapeXml(name)}</text>`,
    );
    x += widths[i];
  });
  return out;
}

export interface LineSeries {
  name: string;
  points: { x: number; y: number }[];
}

export interface LineChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  series: LineSeries[];
  width?: number;
  height?: number;
}

/**
 * Keeps at most ~4 points per pixel column (first, min, max, last of each column), so a curve of 50,000
 * steps stays a small file without losing its spikes. `pxPerUnit` maps x to pixels.
 */
export function decimate(
  points: { x: number; y: number }[],
  x0: number,
  pxPerUnit: number,
): { x: number; y: number }[] {
  const out: { x: number; y: number }[] = [];
  let col = Number.NaN;
  let bucket: { x: number; y: number }[] = [];
  const flush = () => {
    if (bucket.length === 0) return;
    const lo = bucket.reduce((a, b) => (b.y < a.y ? b : a));
    const hi = bucket.reduce((a, b) => (b.y > a.y ? b : a));
    const keep = new Set([bucket[0], lo, hi, bucket[bucket.length - 1]]);
    for (const p of bucket) if (keep.has(p)) out.push(p);
    bucket = [];
  };
  for (const p of points) {
    const c = Math.floor((p.x - x0) * pxPerUnit);
    if (c !== col) {
      flush();
      col = c;
    }
    bucket.push(p);
  }
  flush();
  return out;
}

/** A line chart of one or more series, with axes, ticks, grid lines, axis labels and a legend. */
export function lineChart(o: LineChartOptions): string {
  const width = o.width ?? 720;
  const height = o.height ?? 360;
  const all = o.series.flatMap((s) => s.points);
  const left = 72, right = 24, top = 58, bottom = 52;
  const pw = width - left - right, ph = height - top - bottom;
  const xs = niceTicks(Math.min(...all.map((p) => p.x)), Math.max(...all.map((p) => p.x)), 6);
  const ys = niceTicks(Math.min(...all.map((p) => p.y)), Math.max(...all.map((p) => p.y)), 5);
  const [x0, x1] = [xs.ticks[0], xs.ticks[xs.ticks.length - 1]];
  const [y0, y1] = [ys.ticks[0], ys.ticks[ys.ticks.length - 1]];
  const px = (x: number) => left + ((x - x0) / (x1 - x0)) * pw;
  const py = (y: number) => top + ph - ((y - y0) / (y1 - y0)) * ph;

  const out = header(width, height, o.title);
  out.push(...legend(o.series.map((s) => s.name), width, 44));
  for (const t of ys.ticks) {
    out.push(
      `<line x1="${left}" x2="${left + pw}" y1="${n2(py(t))}" y2="${n2(py(t))}" stroke="#e5e7eb"/>`,
      `<text class="y-tick" x="${left - 8}" y="${n2(py(t) + 4)}" text-anchor="end" font-size="11" ` +
        `fill="#4b5563" ${FONT}>${formatTick(t, ys.step)}</text>`,
    );
  }
  for (const t of xs.ticks) {
    out.push(
      `<line x1="${n2(px(t))}" x2="${n2(px(t))}" y1="${top}" y2="${top + ph}" stroke="#f3f4f6"/>`,
      `<text class="x-tick" x="${n2(px(t))}" y="${top + ph + 18}" text-anchor="middle" font-size="11" ` +
        `fill="#4b5563" ${FONT}>${formatTick(t, xs.step)}</text>`,
    );
  }
  out.push(
    `<rect x="${left}" y="${top}" width="${pw}" height="${ph}" fill="none" stroke="#9ca3af"/>`,
    `<text x="${left + pw / 2}" y="${height - 12}" text-anchor="middle" font-size="12" fill="#111827" ` +
      `${FONT}>${escapeXml(o.xLabel)}</text>`,
    `<text x="16" y="${top + ph / 2}" text-anchor="middle" font-size="12" fill="#111827" ` +
      `transform="rotate(-90 16 ${top + ph / 2})" ${FONT}>${escapeXml(o.yLabel)}</text>`,
  );
  o.series.forEach((s, i) => {
    const color = PALETTE[i % PALETTE.length];
    const pts = s.points.length > 2 * pw ? decimate(s.points, x0, pw / (x1 - x0)) : s.points;
    const attr = `data-series="${escapeXml(s.name)}"`;
    if (pts.length > 1) {
      out.push(
        `<polyline class="series" ${attr} fill="none" stroke="${color}" stroke-width="1.8" ` +
          `stroke-linejoin="round" points="${pts.map((p) => `${n2(px(p.x))},${n2(py(p.y))}`).join(" ")}"/>`,
      );
    }
    if (s.points.length <= 60) {
      for (const p of s.points) {
        out.push(
          `<circle class="point" ${attr} cx="${n2(px(p.x))}" cy="${n2(py(p.y))}" r="3" fill="${color}"/>`,
        );
      }
    }
  });
  out.push("</svg>");
  return out.join("\n") + "\n";
}

export interface BarSeries {
  name: string;
  /** One value per category; null draws no bar. */
  values: (number | null)[];
}

export interface BarChartOptions {
  title: string;
  categories: string[];
  series: BarSeries[];
  /** What the values are (the axis label). */
  valueLabel: string;
  width?: number;
  /** Decimals of the value printed at the end of each bar (default 4). */
  decimals?: number;
}

/** A horizontal bar chart: one row per category, one bar per series, a zero line, values at bar ends. */
export function barChart(o: BarChartOptions): string {
  const width = o.width ?? 720;
  const decimals = o.decimals ?? 4;
  const barH = 14, gap = 2, rowPad = 8;
  const rowH = o.series.length * (barH + gap) - gap + rowPad;
  const legendH = o.series.length > 1 ? 20 : 0;
  const top = 40 + legendH + 10, bottom = 48;
  const values = o.series.flatMap((s) => s.values).filter((v): v is number => v !== null);
  const labelsW = Math.min(width / 2, 16 + Math.max(...o.categories.map((c) => c.length)) * CHAR_W);
  const valueRoom = (decimals + 4) * CHAR_W;
  // room for the printed values beyond the longest bars: right, and left too when some are negative
  const left = labelsW + (values.some((v) => v < 0) ? valueRoom : 0);
  const right = 16 + valueRoom;
  const pw = width - left - right;
  const ph = o.categories.length * rowH;
  const height = top + ph + bottom;
  // the axis spans the data (and zero) with a small margin, not out to the next round tick
  const lo = Math.min(0, ...values), hi = Math.max(0, ...values);
  const margin = (hi - lo || 1) * 0.03;
  const [v0, v1] = [lo < 0 ? lo - margin : 0, hi > 0 || lo === 0 ? hi + margin : 0];
  const nice = niceTicks(lo, hi, 5);
  const ts = { step: nice.step, ticks: nice.ticks.filter((t) => t >= v0 - 1e-12 && t <= v1 + 1e-12) };
  const px = (v: number) => left + ((v - v0) / (v1 - v0)) * pw;

  const out = header(width, height, o.title);
  if (o.series.length > 1) out.push(...legend(o.series.map((s) => s.name), width, 44));
  for (const t of ts.ticks) {
    out.push(
      `<line x1="${n2(px(t))}" x2="${n2(px(t))}" y1="${top}" y2="${top + ph}" stroke="#e5e7eb"/>`,
      `<text class="x-tick" x="${n2(px(t))}" y="${top + ph + 16}" text-anchor="middle" font-size="11" ` +
        `fill="#4b5563" ${FONT}>${formatTick(t, ts.step)}</text>`,
    );
  }
  o.categories.forEach((cat, r) => {
    const rowTop = top + r * rowH + rowPad / 2;
    out.push(
      `<text class="category" x="${labelsW - 8}" y="${
        n2(rowTop + (rowH - rowPad) / 2 + 4)
      }" text-anchor="end" ` +
        `font-size="12" fill="#111827" ${FONT}>${escapeXml(cat)}</text>`,
    );
    o.series.forEach((s, i) => {
      const v = s.values[r];
      const y = rowTop + i * (barH + gap);
      const attr = `data-category="${escapeXml(cat)}" data-series="${escapeXml(s.name)}"`;
      if (v === null || v === undefined) return; // a missing value: no bar
      const xa = Math.min(px(0), px(v)), xb = Math.max(px(0), px(v));
      out.push(
        `<rect class="bar" ${attr} x="${n2(xa)}" y="${n2(y)}" width="${n2(Math.max(xb - xa, 0.5))}" ` +
          `height="${barH}" fill="${PALETTE[i % PALETTE.length]}"/>`,
        `<text class="value" ${attr} x="${n2(v < 0 ? xa - 4 : xb + 4)}" y="${n2(y + barH - 3)}" ` +
          `text-anchor="${v < 0 ? "end" : "start"}" font-size="11" fill="#374151" ${FONT}>` +
          `${v.toFixed(decimals)}</text>`,
      );
    });
  });
  out.push(
    `<line x1="${n2(px(0))}" x2="${n2(px(0))}" y1="${top}" y2="${top + ph}" stroke="#6b7280"/>`,
    `<text x="${left + pw / 2}" y="${height - 12}" text-anchor="middle" font-size="12" fill="#111827" ` +
      `${FONT}>${escapeXml(o.valueLabel)}</text>`,
    "</svg>",
  );
  return out.join("\n") + "\n";
}
