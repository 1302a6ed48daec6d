// Unit tests of the dashboard's SVG chart module (www/chart.js): scales, ticks, paths with
// gaps and steps, thresholds, event marks, the empty chart, and the SVG/DOM output.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as chart from '../../www/chart.js';
import * as lib from '../../www/lib.js';

const MIN = 60_000;
const T0 = Date.UTC(2025, 10, 28, 20, 0);
const find = (node, pred, out = []) => {
  if (typeof node !== 'object') return out;
  if (pred(node)) out.push(node);
  for (const c of node.children) find(c, pred, out);
  return out;
};
const byClass = (tree, cls) => find(tree, (n) => (n.attrs.class ?? '').split(' ').includes(cls));

test('nice ticks cover the range with round steps', () => {
  assert.deepEqual(chart.niceTicks(0, 1, 4), [0, 0.25, 0.5, 0.75, 1]);
  assert.deepEqual(chart.niceTicks(0, 73, 4), [0, 20, 40, 60, 80]);
  assert.deepEqual(chart.niceTicks(0, 0.06, 4), [0, 0.02, 0.04, 0.06]);
  assert.deepEqual(chart.niceTicks(0, 150, 4), [0, 50, 100, 150]);
  const flat = chart.niceTicks(5, 5, 4);
  assert.ok(flat[0] < 5 && flat.at(-1) > 5 && flat[0] >= 0, 'a flat series still gets a range, not below 0');
  assert.deepEqual(chart.niceTicks(0, 0, 4), [0, 0.25, 0.5, 0.75, 1], 'all zeros: 0 to 1, never -1 to +1');
  assert.ok(chart.niceTicks(-5, -5, 4)[0] < -5, 'negative flat data may go below 0');
  assert.deepEqual(chart.niceTicks(0, 3, 4, 1), [0, 1, 2, 3], 'whole-number steps for counts');
  assert.deepEqual(chart.niceTicks(0, 1, 4, 1), [0, 1]);
  assert.deepEqual(chart.niceTicks(0, 90, 4, 1), [0, 25, 50, 75, 100]);
  assert.deepEqual(chart.niceTicks(NaN, 1), []);
  for (const [lo, hi] of [[0, 0.0003], [-3, 17], [1e6, 3.3e6], [0.5, 0.51]]) {
    const t = chart.niceTicks(lo, hi, 5);
    assert.ok(t[0] <= lo && t.at(-1) >= hi, `${lo}..${hi}: ${t}`);
    assert.ok(t.length >= 2 && t.length <= 12, `${lo}..${hi}: ${t.length} ticks`);
  }
});

test('time ticks land on round minutes/hours and stay inside the range', () => {
  const t = chart.timeTicks(T0 + 7 * MIN, T0 + 127 * MIN, 6);
  assert.deepEqual(t.map((x) => (x - T0) / MIN), [30, 60, 90, 120]);
  const short = chart.timeTicks(T0, T0 + 10 * MIN, 6);
  assert.deepEqual(short.map((x) => (x - T0) / MIN), [0, 2, 4, 6, 8, 10]);
  const day = chart.timeTicks(T0, T0 + 24 * 60 * MIN, 6);
  assert.deepEqual(day.map((x) => new Date(x).getUTCHours()), [0, 6, 12, 18], 'every 6 h at round UTC hours');
  // A local offset of +60 min aligns ticks to local round hours.
  assert.ok(chart.timeTicks(T0 + 5 * MIN, T0 + 300 * MIN, 4, 60).every((x) => (x + 60 * MIN) % (60 * MIN) === 0));
  assert.deepEqual(chart.timeTicks(T0, T0), []);
});

test('path data: gaps at nulls, step-after lines', () => {
  const sx = (t) => t;
  const sy = (y) => 100 - y;
  assert.equal(chart.pathData([[0, 10], [10, 20], [20, null], [30, 40], [40, 50]], sx, sy), 'M0 90L10 80M30 60L40 50');
  assert.equal(chart.pathData([[0, 5], [10, 20], [20, 50]], sx, sy, true), 'M0 95H10V80H20V50');
  assert.equal(chart.pathData([[0, null]], sx, sy), '');
});

test('a chart maps data into the plot area, with thresholds, marks and a lone point', () => {
  const points = Array.from({ length: 61 }, (_, i) => [T0 + i * MIN, i % 10 === 5 ? null : i]);
  const spec = {
    title: 'Requests',
    series: [{ name: 'stable', color: '#123456', points }, { name: 'canary', color: '#abcdef', points: [[T0 + 30 * MIN, 10]] }],
    thresholds: [{ y: 80, label: 'guard 80', color: '#dc2626' }],
    marks: [{ t: T0 + 20 * MIN, kind: 'rollback', label: 'Rollback: guard' }, { t: T0 - 5 * MIN, kind: 'step' }],
    yFormat: (y) => `${y}`,
  };
  const c = chart.lineChart(spec);
  assert.equal(c.tag, 'svg');
  assert.equal(c.attrs['aria-label'], 'Requests');
  assert.equal(c.attrs['data-empty'], undefined);
  const { meta } = c;
  assert.deepEqual([meta.t0, meta.t1], [T0, T0 + 60 * MIN]);
  assert.equal(meta.y0, 0);
  assert.ok(meta.y1 >= 80, 'the threshold is inside the y range');
  const lines = byClass(c, 'c-line');
  assert.equal(lines.length, 1, 'the one-point series draws a circle, not a path');
  assert.equal(lines[0].attrs.stroke, '#123456');
  assert.equal(lines[0].attrs.d.split('M').length - 1, 7, 'a gap at every null splits the line');
  assert.equal(lines[0].attrs.d.split('L').length - 1, 61 - 6 - 7, 'one segment per pair of neighbours');
  assert.equal(find(c, (n) => n.tag === 'circle').length, 1);
  // Every coordinate inside the plot area.
  const nums = lines[0].attrs.d.match(/-?\d+(\.\d+)?/g).map(Number);
  for (let i = 0; i < nums.length; i += 2) {
    assert.ok(nums[i] >= meta.left - 0.01 && nums[i] <= meta.right + 0.01, `x ${nums[i]}`);
    assert.ok(nums[i + 1] >= 0 && nums[i + 1] <= meta.height, `y ${nums[i + 1]}`);
  }
  // The rollback mark at its time; the out-of-range step mark is dropped.
  const marks = byClass(c, 'c-mark');
  assert.equal(marks.length, 1);
  assert.equal(marks[0].attrs['data-kind'], 'rollback');
  assert.equal(marks[0].children[0].attrs.x1, Math.round(meta.sx(T0 + 20 * MIN) * 100) / 100);
  assert.equal(find(marks[0], (n) => n.tag === 'title')[0].children[0], 'Rollback: guard');
  const thr = byClass(c, 'c-thr')[0];
  assert.equal(thr.attrs.y1, Math.round(meta.sy(80) * 100) / 100);
  assert.ok(byClass(c, 'c-label').length >= 5, 'axis labels');
  assert.ok(Math.abs(chart.timeAt(meta, meta.sx(T0 + 30 * MIN) / meta.width) - (T0 + 30 * MIN)) < 1);
  assert.equal(chart.timeAt(meta, 0), T0, 'clamped to the domain');
});

test('axes fit the data: a 0 % error chart spans 0 to its hint, counts get whole ticks, labels get the step', () => {
  const zeros = Array.from({ length: 30 }, (_, i) => [T0 + i * MIN, 0]);
  const labels = (c) => byClass(c, 'c-tick').map((g) => g.children[1].children[0]);
  // No hint: 0..1 (the old axis was -1..+1, drawn as -100 % to +100 %).
  let c = chart.lineChart({ series: [{ name: 'e', points: zeros }], yFormat: (y, step) => `${y}|${step}` });
  assert.deepEqual([c.meta.y0, c.meta.y1], [0, 1]);
  assert.equal(labels(c)[1], '0.25|0.25', 'tick labels receive the tick step');
  // An error-rate chart with the hint the route page passes (the guard, or 1 %).
  c = chart.lineChart({ series: [{ name: 'e', points: zeros }], yMax: 0.01 });
  assert.deepEqual([c.meta.y0, c.meta.y1], [0, 0.01]);
  assert.ok(labels(c).every((l) => Number(l) >= 0), labels(c).join(','));
  // Counts: 0..3 requests a minute in whole steps.
  c = chart.lineChart({ series: [{ name: 'r', points: zeros.map(([t], i) => [t, i % 4]) }], integer: true });
  assert.deepEqual(labels(c), ['0', '1', '2', '3']);
  // A flat non-zero line keeps 0 at the bottom.
  c = chart.lineChart({ series: [{ name: 'p', points: zeros.map(([t]) => [t, 42]) }] });
  assert.equal(c.meta.y0, 0);
  assert.ok(c.meta.y1 >= 42 && c.meta.y1 <= 60, String(c.meta.y1));
});

test('a config-change mark carries a label on the chart', () => {
  const pts = Array.from({ length: 30 }, (_, i) => [T0 + i * MIN, 10]);
  const c = chart.lineChart({ series: [{ name: 'r', points: pts }], marks: [{ t: T0 + 5 * MIN, kind: 'config', short: 'config changed: counts restart', label: 'Config change: strategy changed' }, { t: T0 + 28 * MIN, kind: 'rollback', short: 'rollback' }, { t: T0 + 10 * MIN, kind: 'step' }] });
  const marks = byClass(c, 'c-mark');
  const label = (m) => byClass(m, 'c-mark-label')[0];
  assert.equal(label(marks[0]).children[0], 'config changed: counts restart');
  assert.equal(label(marks[0]).attrs['text-anchor'], 'start');
  assert.equal(label(marks[1]).attrs['text-anchor'], 'end', 'flipped left near the right edge');
  assert.equal(label(marks[2]), undefined, 'steps: hover only');
});

test('an empty chart says so instead of drawing nothing', () => {
  for (const series of [[], [{ name: 'a', points: [] }], [{ name: 'a', points: [[T0, null]] }]]) {
    const c = chart.lineChart({ title: 'x', series, empty: 'No data yet' });
    assert.equal(c.attrs['data-empty'], 'true');
    assert.equal(c.meta, null);
    assert.match(chart.toSvg(c), /No data yet/);
  }
  assert.equal(chart.timeAt(null, 0.5), null);
});

test('SVG text and DOM output; no inline style anywhere (strict CSP)', () => {
  const s = JSON.parse(readFileSync(fileURLToPath(new URL('../fixtures/dashboard/series-fraud.json', import.meta.url)), 'utf8'));
  const c = chart.lineChart({ title: 'a <b> & "c"', series: lib.armSeries(s, 'error_rate', ['stable', 'canary'], 5), marks: lib.eventMarks(s), thresholds: [{ y: 0.05, label: 'guard' }], yFormat: (y) => `${y * 100}%` });
  const svg = chart.toSvg(c);
  assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg" class="chart" viewBox="0 0 560 190"/);
  assert.match(svg, /aria-label="a &lt;b&gt; &amp; &quot;c&quot;"/);
  assert.doesNotMatch(svg, /style=|NaN|undefined|Infinity/);
  assert.equal((svg.match(/class="c-mark c-mark-step"/g) ?? []).length, 2);
  // toDom with a minimal document.
  const made = [];
  const doc = {
    createElementNS: (ns, tag) => { const e = { ns, tag, attrs: {}, kids: [], setAttribute(k, v) { this.attrs[k] = v; }, appendChild(k) { this.kids.push(k); } }; made.push(e); return e; },
    createTextNode: (t) => ({ text: t }),
  };
  const root = chart.toDom(c, doc);
  assert.equal(root.tag, 'svg');
  assert.ok(made.every((e) => e.ns === 'http://www.w3.org/2000/svg'));
  assert.ok(made.every((e) => !('style' in e.attrs)));
  assert.equal(made.filter((e) => e.tag === 'path').length, 2);
});
