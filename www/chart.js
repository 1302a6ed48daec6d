// A small SVG time-series chart for the Switchyard dashboard (no dependencies, no DOM needed to
// build it): `lineChart(spec)` returns a plain {tag, attrs, children} tree that `toDom` turns
// into SVG elements in the browser and `toSvg` into text (node tests, snapshots). No inline
// style attributes anywhere: colours are SVG presentation attributes and CSS classes, so the
// dashboard runs under a strict Content-Security-Policy.

const W = 560;
const H = 190;
const MARGIN = { top: 10, right: 14, bottom: 22, left: 50 };
const isNum = (x) => typeof x === 'number' && Number.isFinite(x);

/**
 * "Nice" ticks covering [min, max]: steps of 1, 2, 2.5 or 5 × 10^k, at most about `count`.
 * A flat range gets room around it, never below 0 for non-negative data (all zeros: [0, 1]).
 * `minStep` bounds the step from below (1 for counts: no "0.25 requests" ticks).
 */
export function niceTicks(min, max, count = 5, minStep = 0) {
  if (!isNum(min) || !isNum(max)) return [];
  if (max < min) [min, max] = [max, min];
  if (max === min) {
    const pad = min === 0 ? 1 : Math.abs(min) * 0.1;
    max += pad;
    min = min >= 0 ? Math.max(0, min - pad) : min - pad;
  }
  const raw = Math.max((max - min) / Math.max(1, count), isNum(minStep) ? minStep : 0);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw && (!minStep || Number.isInteger(s / minStep))) ?? 10 * mag;
  const lo = Math.floor(min / step + 1e-9) * step;
  const hi = Math.ceil(max / step - 1e-9) * step;
  const out = [];
  for (let v = lo, i = 0; v <= hi + step * 1e-9 && i < 50; v = lo + ++i * step) out.push(+v.toPrecision(12));
  return out;
}

const MIN = 60_000;
const TIME_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1440].map((m) => m * MIN);

/** Time ticks at round minutes/hours inside [t0, t1] (epoch ms), at most about `count`. */
export function timeTicks(t0, t1, count = 6, tzOffsetMin = 0) {
  if (!isNum(t0) || !isNum(t1) || t1 <= t0) return [];
  const step = TIME_STEPS.find((s) => (t1 - t0) / s <= count) ?? TIME_STEPS.at(-1);
  const off = tzOffsetMin * MIN; // align to local round hours
  const out = [];
  for (let t = Math.ceil((t0 - off) / step) * step + off; t <= t1 && out.length < 100; t += step) out.push(t);
  return out;
}

/** Local "HH:MM" for an epoch-ms time. */
export function hhmm(t) {
  const d = new Date(t);
  return `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
}

const el = (tag, attrs = {}, ...children) => ({ tag, attrs, children: children.flat().filter((c) => c != null && c !== false) });
const r2 = (x) => Math.round(x * 100) / 100;

/** SVG path data of one series: breaks at nulls, step-after when `step`. */
export function pathData(points, sx, sy, step = false) {
  let d = '';
  let prev = null;
  for (const [t, y] of points) {
    if (!isNum(t) || !isNum(y)) { prev = null; continue; }
    const x = r2(sx(t));
    const yy = r2(sy(y));
    if (prev === null) d += `M${x} ${yy}`;
    else if (step) d += `H${x}V${yy}`;
    else d += `L${x} ${yy}`;
    prev = [x, yy];
  }
  return d;
}

/**
 * A time-series chart. spec: {
 *   title,                      // accessible name
 *   series: [{name, color, points: [[t, y|null], …], step?, dashed?}],
 *   thresholds?: [{y, label, color?}],   // horizontal dashed lines (guards)
 *   marks?: [{t, kind, label}],          // vertical event marks (rollback, step, …)
 *   yFormat?: (y, step?) => string (tick labels get the tick step, read-outs do not),
 *   yMin?, yMax? (the axis reaches at least these), zero? (false: the y axis need not start
 *   at 0; by default it does, and it never goes below 0 for non-negative data),
 *   integer? (counts: whole-number ticks),
 *   xDomain?: [t0, t1], tzOffsetMin?, width?, height?, margin?: {top, right, bottom, left}
 * }
 * Returns the SVG tree plus `meta` (scales and domain) for hover read-outs.
 */
export function lineChart(spec) {
  const M = { ...MARGIN, ...(spec.margin ?? {}) };
  const width = spec.width ?? W;
  const height = spec.height ?? H;
  const fmt = spec.yFormat ?? ((y) => String(y));
  const series = (spec.series ?? []).filter((s) => Array.isArray(s.points));
  const thresholds = (spec.thresholds ?? []).filter((t) => isNum(t.y));
  const ts = [];
  const ys = [];
  for (const s of series) for (const [t, y] of s.points) if (isNum(t) && isNum(y)) { ts.push(t); ys.push(y); }
  const marks = (spec.marks ?? []).filter((m) => isNum(m.t));
  const svgAttrs = { class: 'chart', viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': spec.title ?? 'chart' };
  if (!ys.length) {
    return { ...el('svg', { ...svgAttrs, 'data-empty': 'true' },
      el('text', { x: width / 2, y: height / 2, 'text-anchor': 'middle', class: 'c-empty' }, spec.empty ?? 'No data yet')), meta: null };
  }
  let [t0, t1] = spec.xDomain ?? [Math.min(...ts), Math.max(...ts)];
  if (t1 <= t0) { t0 -= MIN; t1 += MIN; }
  const yLo = Math.min(spec.yMin ?? Infinity, ...ys, ...thresholds.map((t) => t.y));
  const yHi = Math.max(spec.yMax ?? -Infinity, ...ys, ...thresholds.map((t) => t.y));
  const yt = niceTicks(spec.zero === false ? yLo : Math.min(0, yLo), yHi, 4, spec.integer ? 1 : 0);
  const yStep = yt.length > 1 ? yt[1] - yt[0] : null;
  const y0 = yt[0];
  const y1 = yt.at(-1);
  const pw = width - M.left - M.right;
  const ph = height - M.top - M.bottom;
  const sx = (t) => M.left + ((t - t0) / (t1 - t0)) * pw;
  const sy = (y) => M.top + ph - ((y - y0) / (y1 - y0 || 1)) * ph;

  const grid = yt.map((v) => el('g', { class: 'c-tick' },
    el('line', { x1: M.left, x2: width - M.right, y1: r2(sy(v)), y2: r2(sy(v)), class: 'c-grid' }),
    el('text', { x: M.left - 6, y: r2(sy(v)) + 4, 'text-anchor': 'end', class: 'c-label' }, fmt(v, yStep))));
  const xt = timeTicks(t0, t1, Math.max(2, Math.floor(pw / 90)), spec.tzOffsetMin ?? 0);
  const xAxis = xt.map((t) => el('text', { x: r2(sx(t)), y: height - 6, 'text-anchor': 'middle', class: 'c-label' }, (spec.xFormat ?? hhmm)(t)));
  const inX = (t) => t >= t0 && t <= t1;
  const thr = thresholds.map((t) => el('g', { class: 'c-threshold' },
    el('line', { x1: M.left, x2: width - M.right, y1: r2(sy(t.y)), y2: r2(sy(t.y)), stroke: t.color ?? 'currentColor', 'stroke-dasharray': '6 4', class: 'c-thr' }),
    el('text', { x: width - M.right - 2, y: r2(sy(t.y)) - 4, 'text-anchor': 'end', class: 'c-thr-label' }, t.label ?? fmt(t.y))));
  const mk = marks.filter((m) => inX(m.t)).map((m) => el('g', { class: `c-mark c-mark-${m.kind ?? 'event'}`, 'data-kind': m.kind ?? 'event' },
    el('line', { x1: r2(sx(m.t)), x2: r2(sx(m.t)), y1: M.top, y2: M.top + ph }),
    el('line', { x1: r2(sx(m.t)), x2: r2(sx(m.t)), y1: M.top, y2: M.top + ph, class: 'c-mark-hit' }),
    // A short label beside the line (config changes, rollbacks), flipped left near the right edge.
    m.short ? el('text', { x: r2(sx(m.t)) + (sx(m.t) > width - M.right - 150 ? -4 : 4), y: M.top + 9,
      'text-anchor': sx(m.t) > width - M.right - 150 ? 'end' : 'start', class: 'c-mark-label' }, m.short) : null,
    el('title', {}, m.label ?? m.kind ?? 'event')));
  const lines = series.map((s, i) => {
    const pts = s.points.filter(([t]) => inX(t));
    const d = pathData(pts, sx, sy, !!s.step);
    // A point with no drawable neighbour would be invisible in a path: draw it as a dot.
    const ok = (k) => k >= 0 && k < pts.length && isNum(pts[k][1]);
    const lone = pts.filter(([, y], k) => isNum(y) && !ok(k - 1) && !ok(k + 1));
    return el('g', { class: 'c-series', 'data-series': s.name },
      /[LH]/.test(d) ? el('path', { d, fill: 'none', stroke: s.color ?? 'currentColor', 'stroke-width': s.width ?? 1.8,
        'stroke-dasharray': s.dashed ? '4 3' : null, 'stroke-linejoin': 'round', class: `c-line c-line-${i}` }) : null,
      lone.map(([t, y]) => el('circle', { cx: r2(sx(t)), cy: r2(sy(y)), r: 2.2, fill: s.color ?? 'currentColor', class: 'c-dot' })));
  });
  const frame = el('line', { x1: M.left, x2: width - M.right, y1: M.top + ph, y2: M.top + ph, class: 'c-axis' });
  const tree = el('svg', svgAttrs, el('title', {}, spec.title ?? 'chart'), grid, frame, xAxis, mk, thr, lines,
    el('line', { class: 'c-cursor', x1: -10, x2: -10, y1: M.top, y2: M.top + ph, visibility: 'hidden' }));
  return { ...tree, meta: { t0, t1, y0, y1, width, height, left: M.left, right: width - M.right, sx, sy } };
}

/** The time under a horizontal fraction (0..1 of the rendered width) of a chart. */
export function timeAt(meta, fraction) {
  if (!meta) return null;
  const x = fraction * meta.width;
  const f = (x - meta.left) / (meta.right - meta.left);
  return meta.t0 + Math.min(1, Math.max(0, f)) * (meta.t1 - meta.t0);
}

const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** SVG text of a chart tree. */
export function toSvg(node) {
  if (typeof node !== 'object') return esc(node);
  const attrs = Object.entries(node.attrs).filter(([, v]) => v != null).map(([k, v]) => ` ${k}="${esc(v)}"`).join('');
  const ns = node.tag === 'svg' ? ' xmlns="http://www.w3.org/2000/svg"' : '';
  return `<${node.tag}${ns}${attrs}>${node.children.map(toSvg).join('')}</${node.tag}>`;
}

/** SVG elements of a chart tree, built with `doc.createElementNS`. */
export function toDom(node, doc) {
  if (typeof node !== 'object') return doc.createTextNode(String(node));
  const e = doc.createElementNS('http://www.w3.org/2000/svg', node.tag);
  for (const [k, v] of Object.entries(node.attrs)) if (v != null) e.setAttribute(k, String(v));
  for (const c of node.children) e.appendChild(toDom(c, doc));
  return e;
}
