// Small SVG charts for the dashboards: line charts over time with vertical marks (the
// agenda's phases), and horizontal bars against a target. No library, no DOM beyond
// the SVG returned.

const NS = "http://www.w3.org/2000/svg";

function svg<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number>): SVGElementTagNameMap[K] {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
}

export interface Series {
  name: string;
  color: string;
  points: [number, number][]; // [time ms, value]
}

export interface Mark {
  at: number; // time ms
  label: string;
}

const COLORS = ["#0b6bcb", "#c62828", "#2e7d32", "#8e24aa", "#ef6c00", "#00838f", "#6d4c41"];
export function color(i: number): string {
  return COLORS[i % COLORS.length]!;
}

/** A line chart of `series` over time, with `marks` as labelled vertical lines. Gaps
 *  longer than `gapMs` break the line (a reconnect shows as a gap). */
export function lineChart(title: string, unit: string, series: Series[], marks: Mark[], gapMs = 6000): SVGSVGElement {
  const width = 720, height = 200, left = 48, right = 12, top = 22, bottom = 24;
  const all = series.flatMap((s) => s.points);
  const times = [...all.map((p) => p[0]), ...marks.map((m) => m.at)];
  const t0 = Math.min(...times), t1 = Math.max(...times, t0 + 1);
  const vmax = Math.max(1e-9, ...all.map((p) => p[1])) * 1.1;
  const x = (t: number) => left + ((t - t0) / (t1 - t0)) * (width - left - right);
  const y = (v: number) => top + (1 - v / vmax) * (height - top - bottom);
  const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, class: "chart", role: "img", "aria-label": title });
  const heading = svg("text", { x: left, y: 14, class: "chart-title" });
  heading.textContent = `${title} (${unit})`;
  root.append(heading);
  for (const frac of [0, 0.5, 1]) {
    const v = vmax * frac / 1.1;
    const line = svg("line", { x1: left, x2: width - right, y1: y(v), y2: y(v), class: "grid" });
    const label = svg("text", { x: left - 4, y: y(v) + 4, class: "axis", "text-anchor": "end" });
    label.textContent = v >= 100 ? v.toFixed(0) : v.toFixed(1);
    root.append(line, label);
  }
  for (const m of marks) {
    const line = svg("line", { x1: x(m.at), x2: x(m.at), y1: top, y2: height - bottom, class: "mark" });
    const label = svg("text", { x: x(m.at) + 3, y: height - bottom + 14, class: "axis" });
    label.textContent = m.label;
    root.append(line, label);
  }
  series.forEach((s) => {
    const sorted = [...s.points].sort((a, b) => a[0] - b[0]);
    let run: [number, number][] = [];
    const flush = () => {
      if (run.length > 0) {
        root.append(svg("polyline", {
          points: run.map(([t, v]) => `${x(t).toFixed(1)},${y(v).toFixed(1)}`).join(" "),
          fill: "none", stroke: s.color, "stroke-width": 1.6, "data-series": s.name,
        }));
      }
      run = [];
    };
    for (const p of sorted) {
      const last = run[run.length - 1];
      if (last && p[0] - last[0] > gapMs) flush();
      run.push(p);
    }
    flush();
  });
  return root;
}

/** One horizontal bar per indicator, with its target as a line; missing values are
 *  shown as such, not as zero. */
export function targetBars(rows: { label: string; value: number | null; target: number; unit: string }[]): SVGSVGElement {
  const width = 720, rowH = 34, left = 300, right = 80;
  const root = svg("svg", { viewBox: `0 0 ${width} ${rows.length * rowH + 8}`, class: "chart", role: "img" });
  rows.forEach((r, i) => {
    const top = 4 + i * rowH;
    const scale = Math.max(r.target * 1.25, r.value ?? 0, 1);
    const w = (v: number) => (v / scale) * (width - left - right);
    const label = svg("text", { x: left - 8, y: top + 18, class: "axis", "text-anchor": "end" });
    label.textContent = r.label;
    root.append(label, svg("rect", { x: left, y: top + 4, width: width - left - right, height: 20, class: "track" }));
    if (r.value !== null) {
      root.append(svg("rect", {
        x: left, y: top + 4, width: w(r.value), height: 20,
        class: r.value >= r.target ? "bar met" : "bar missed", "data-indicator": r.label,
      }));
    }
    root.append(svg("line", { x1: left + w(r.target), x2: left + w(r.target), y1: top, y2: top + 28, class: "target" }));
    const value = svg("text", { x: width - right + 6, y: top + 18, class: "axis" });
    const fmt = (v: number) => (r.unit === "percent" ? `${v.toFixed(1)}%` : v.toFixed(0));
    value.textContent = r.value === null ? "—" : fmt(r.value);
    root.append(value);
  });
  return root;
}
