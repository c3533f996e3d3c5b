// Stream stability: sessions with their verdicts, and one session's timelines per
// participant, direction and source, with the agenda's phases marked.

import { color, lineChart, Mark, Series } from "../charts.js";
import { h } from "../dom.js";
import { roleName, t } from "../i18n.js";
import { get, refusalText } from "./api.js";
import type { SampleRow, SessionStability, SessionWithLinks, StabilityRow } from "./types.js";
import { field, message, table } from "./ui.js";


/** Sessions with their stability verdicts (filters: period, verdict, kind); a row
 *  opens that session's timelines. */
export async function stabilityView(): Promise<HTMLElement> {
  const out = h("div", { id: "stability-detail" });
  const list = h("div", { id: "stability-list" });
  const day = (d: Date) => d.toISOString().slice(0, 10);
  const from = h("input", { type: "date", name: "from", value: day(new Date(Date.now() - 90 * 864e5)) });
  const to = h("input", { type: "date", name: "to", value: day(new Date(Date.now() + 864e5)) });
  const verdict = h("select", { name: "verdict" },
    h("option", { value: "" }, t("all")), h("option", { value: "stable" }, t("stable")), h("option", { value: "unstable" }, t("unstable")));
  const load = async () => {
    const q = new URLSearchParams({ from: `${from.value}T00:00:00Z`, to: `${to.value}T00:00:00Z`, verdict: verdict.value });
    const res = await get<StabilityRow[]>(`/api/v1/stability/sessions?${q}`);
    if (!res.ok) return message(list, `${t("refused")}: ${refusalText(res)}`, "error");
    const rows = res.body;
    list.replaceChildren(table([t("start"), t("sessionTitle"), t("verdict"), t("reason")], rows.map((r) => [
      new Date(r.startsAt).toLocaleString(),
      h("a", { href: "#stability", "data-session": r.sessionId, onclick: (e: Event) => { e.preventDefault(); void showSession(r.sessionId, r.title, out); } }, r.title),
      r.stable === null ? t("notHeld") : h("span", { class: r.stable ? "verdict-stable" : "verdict-unstable" }, r.stable ? t("stable") : t("unstable")),
      r.reasons.join("; "),
    ])));
  };
  const form = h("form", { class: "inline", onsubmit: (e: Event) => { e.preventDefault(); void load(); } },
    field(t("from"), from), field(t("to"), to), field(t("verdict"), verdict), h("button", { class: "primary", type: "submit" }, t("show")));
  await load();
  return h("div", {}, form, list, out);
}

/** The kind of source a sample's track carries: `camera` for both "camera" (sent) and
 *  "<publisher>/camera" (received). */
function sourceOf(track: string): string {
  return track.slice(track.lastIndexOf("/") + 1);
}

/** A source kind's name in the current language. */
function trackName(source: string): string {
  const known = ["microphone", "camera", "screen", "unknown"];
  return known.includes(source) ? t(`track_${source}` as Parameters<typeof t>[0]) : source;
}

/** One row per participant, direction and interval: the chosen source kind's tracks
 *  (all when `source` is empty) pooled as the verdict pools them: packets and bitrate
 *  summed, jitter and RTT at their worst. */
function pool(rows: SampleRow[], source: string): SampleRow[] {
  const out = new Map<string, SampleRow>();
  for (const r of rows) {
    if (source && sourceOf(r.track) !== source) continue;
    const key = `${r.participantId}|${r.direction}|${r.at}`;
    const p = out.get(key);
    if (!p) { out.set(key, { ...r, track: source }); continue; }
    p.packets += r.packets;
    p.lost += r.lost;
    p.kbps += r.kbps;
    p.jitterMs = Math.max(p.jitterMs, r.jitterMs);
    p.rttMs = r.rttMs === null ? p.rttMs : Math.max(p.rttMs ?? 0, r.rttMs);
  }
  return [...out.values()].sort((a, b) => Date.parse(a.at) - Date.parse(b.at));
}

async function showSession(id: string, title: string, out: HTMLElement): Promise<void> {
  const res = await get<SessionStability>(`/api/v1/sessions/${id}/stability`);
  if (!res.ok) return message(out, `${t("refused")}: ${res.status}`, "error");
  const rows = res.body.samples;
  const people = [...new Set(rows.map((s) => s.participantId))];
  const names = new Map<string, string>();
  const session = await get<SessionWithLinks>(`/api/v1/sessions/${id}`);
  for (const l of session.ok ? session.body.joinLinks : []) names.set(l.participantId, `${l.name} · ${roleName(l.role)}`);
  const marks: Mark[] = res.body.phases.map((p) => ({
    at: Date.parse(p.at), label: t(`phase_${p.phase}` as Parameters<typeof t>[0]),
  }));
  const sources = [...new Set(rows.map((r) => sourceOf(r.track)).filter((s) => s))].sort();
  const track = h("select", { name: "track" },
    h("option", { value: "" }, t("allTracks")),
    ...sources.map((s) => h("option", { value: s }, trackName(s))));
  let samples = pool(rows, "");
  const series = (dir: "up" | "down", value: (s: SampleRow) => number | null): Series[] =>
    people.map((p, i) => ({
      name: `${names.get(p) ?? p.slice(0, 8)} ${dir === "up" ? "↑" : "↓"}`,
      color: color(i),
      points: samples.filter((s) => s.participantId === p && s.direction === dir)
        .flatMap((s) => { const v = value(s); return v === null ? [] : [[Date.parse(s.at), v] as [number, number]]; }),
    }));
  const loss = (s: SampleRow) => (s.packets > 0 ? (100 * s.lost) / s.packets : 0);
  const v = res.body.verdict;
  const charts = h("div", { class: "charts" });
  const draw = () => {
    samples = pool(rows, track.value);
    // The packets drawn, for whoever checks what the filter chose.
    charts.dataset.packets = String(samples.reduce((n, s) => n + s.packets, 0));
    charts.replaceChildren(
      lineChart(t("uplinkLoss"), "%", series("up", loss), marks),
      lineChart(t("downlinkLoss"), "%", series("down", loss), marks),
      lineChart(t("jitter"), "ms", series("up", (s) => s.jitterMs), marks),
      lineChart("RTT", "ms", series("down", (s) => s.rttMs), marks),
      lineChart(t("bitrate"), "kbit/s", series("up", (s) => s.kbps), marks),
    );
  };
  track.addEventListener("change", draw);
  draw();
  out.replaceChildren(
    h("h3", {}, title),
    h("p", { class: v.stable ? "verdict-stable" : "verdict-unstable", "data-verdict": String(v.stable) },
      `${v.stable ? t("stable") : t("unstable")} · ${t("definition")} ${v.definition}`),
    h("ul", {}, ...v.reasons.map((r) => h("li", {}, r.summary))),
    h("div", { class: "legend" }, ...people.map((p, i) => h("span", { style: `color:${color(i)}` }, `■ ${names.get(p) ?? p.slice(0, 8)}`))),
    h("form", { class: "inline" }, field(t("track"), track)),
    charts,
  );
}

/** The institute's yearly indicators against their targets. */
