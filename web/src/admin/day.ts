// The defense day: plan panels' slots, book them, see the day's timeline, move
// bookings, and check each session's participants' set-up.

import { h } from "../dom.js";
import { roleName, t } from "../i18n.js";
import { get, list, post, refusalText } from "./api.js";
import type { Named, Placement, PlanBody, PlanReply, RescheduleBody, SessionRow, SessionWithLinks } from "./types.js";
import { field, localDateTimeValue, message, table } from "./ui.js";

export async function dayView(): Promise<HTMLElement> {
  const [panels, projects] = await Promise.all([
    list<Named>("/api/v1/panels"),
    list<{ id: string; code: string; title: string }>("/api/v1/projects"),
  ]);
  const date = h("input", { type: "date", value: new Date().toISOString().slice(0, 10), required: true });
  const dayStart = h("input", { type: "time", value: "09:00", required: true });
  const slots = h("input", { type: "number", value: "8", min: 1, max: 128 });
  const presentation = h("input", { type: "number", value: "15" });
  const qa = h("input", { type: "number", value: "15" });
  const deliberation = h("input", { type: "number", value: "10" });
  const buffer = h("input", { type: "number", value: "5" });
  const checks = (items: { id: string; label: string }[], name: string) =>
    h("fieldset", {}, ...items.map((i) => h("label", { class: "check" }, h("input", { type: "checkbox", name, value: i.id, checked: true }), i.label)));
  const panelBoxes = checks(panels.map((p) => ({ id: p.id, label: p.name })), "panel");
  const projectBoxes = checks(projects.map((p) => ({ id: p.id, label: `${p.code} ${p.title}` })), "project");
  const result = h("section", { id: "plan-result" });
  const bookings = h("section", { id: "day-bookings" });
  const tz = Intl.DateTimeFormat().resolvedOptions().timeZone;
  const panelName = new Map(panels.map((p) => [p.id, p.name]));
  const checked = (box: HTMLElement) => Array.from(box.querySelectorAll<HTMLInputElement>("input:checked")).map((i) => i.value);

  const run = async (book: boolean) => {
    const plan: PlanBody = {
      date: date.value,
      timeZone: tz,
      dayStart: dayStart.value,
      agenda: {
        presentationMinutes: Number(presentation.value),
        qaMinutes: Number(qa.value),
        deliberationMinutes: Number(deliberation.value),
        bufferMinutes: Number(buffer.value),
      },
      slots: Number(slots.value),
      panelIds: checked(panelBoxes),
      projectIds: checked(projectBoxes),
      book,
      hostName: t("defaultHostName"),
    };
    const res = await post<PlanReply>("/api/v1/plan", plan);
    if (!res.ok) return message(result, refusalText(res), "error");
    result.replaceChildren(timeline(res.body.placed, Number(slots.value), panelName));
    if (res.body.unplaced.length) {
      result.append(
        h("h3", {}, t("unplaced")),
        table([t("code"), t("reason")], res.body.unplaced.map((u) => [u.code, u.reason])),
      );
    }
    await showBookings();
  };

  const showBookings = async () => {
    const from = new Date(`${date.value}T00:00:00`);
    const to = new Date(from.getTime() + 24 * 3600 * 1000);
    const [res, allPanels] = await Promise.all([
      get<SessionRow[]>(`/api/v1/sessions?from=${encodeURIComponent(from.toISOString())}&to=${encodeURIComponent(to.toISOString())}`),
      list<Named>("/api/v1/panels"),
    ]);
    if (!res.ok) return;
    const names = new Map(allPanels.map((p) => [p.id, p.name]));
    const sessions = res.body
      .filter((s) => !s.cancelled)
      .sort((a, b) => a.startsAt.localeCompare(b.startsAt));
    // One lane per panel (sessions booked by hand share a lane), in time order.
    const lanes = new Map<string, typeof sessions>();
    for (const s of sessions) {
      const key = s.panelId ?? "";
      lanes.set(key, [...(lanes.get(key) ?? []), s]);
    }
    const board = h("div", { class: "lanes" });
    for (const [panel, items] of lanes) {
      board.append(
        h(
          "div",
          { class: "lane-row" },
          h("div", { class: "lane" }, names.get(panel) ?? "—"),
          ...items.map((s) => {
            const when = h("input", { type: "datetime-local", value: localDateTimeValue(new Date(s.startsAt)) });
            const note = h("span", {});
            const move = h("button", { type: "button", "data-action": "move" }, t("move"));
            move.addEventListener("click", async () => {
              const moved: RescheduleBody = { start: new Date(when.value).toISOString(), durationMinutes: s.durationMinutes };
              const r = await post<SessionRow>(`/api/v1/sessions/${s.id}/reschedule`, moved);
              note.className = r.ok ? "ok" : "error";
              note.textContent = r.ok ? t("moved") : `${t("refused")}: ${refusalText(r)}`;
            });
            const people = h("div", { class: "people" });
            const showPeople = h("button", { type: "button", "data-action": "participants", onclick: () => void showParticipants(s.id, people) }, t("participantsChecks"));
            return h("div", { class: "booking", "data-session": s.id }, h("strong", {}, s.title), when, move, note, showPeople, people);
          }),
        ),
      );
    }
    bookings.replaceChildren(h("h3", {}, t("booked")), board);
  };

  const preview = h("button", { type: "button" }, t("previewPlan"));
  const book = h("button", { type: "button", class: "primary" }, t("bookPlan"));
  preview.addEventListener("click", () => void run(false));
  book.addEventListener("click", () => void run(true));
  void showBookings();
  return h(
    "section",
    { id: "day" },
    h(
      "form",
      { class: "inline" },
      field(t("date"), date),
      field(t("dayStart"), dayStart),
      field(t("slots"), slots),
      field(t("presentation"), presentation),
      field(t("qa"), qa),
      field(t("deliberation"), deliberation),
      field(t("buffer"), buffer),
    ),
    h("h3", {}, t("tabPanels")),
    panelBoxes,
    h("h3", {}, t("tabProjects")),
    projectBoxes,
    h("p", {}, preview, " ", book),
    result,
    bookings,
  );
}

/** A session's participants with their latest set-up check, so problems are fixed
 *  before the day. */
async function showParticipants(id: string, out: HTMLElement): Promise<void> {
  const res = await get<SessionWithLinks>(`/api/v1/sessions/${id}`);
  if (!res.ok) return message(out, `${t("refused")}: ${refusalText(res)}`, "error");
  const links = res.body.joinLinks;
  out.replaceChildren(table(
    [t("name"), t("roleColumn"), t("setupCheck")],
    links.map((l) => {
      const c = l.setupCheck;
      const when = c ? new Date(c.at).toLocaleString() : "";
      const figures = c?.path ? ` · ${c.path.toUpperCase()} · RTT ${Math.round(c.rttMs ?? 0)} ms` : "";
      return [l.name, roleName(l.role), c ? `${t(`checkVerdict_${c.verdict}` as Parameters<typeof t>[0])}${figures} · ${when}` : t("notChecked")];
    }),
  ));
}

/** One lane per panel, one column per slot; refused bookings are marked. */
function timeline(
  placed: Placement[],
  slots: number,
  panelName: Map<string, string>,
): HTMLElement {
  const lanes = [...new Set(placed.map((p) => p.panelId))];
  const grid = h("div", { class: "timeline", style: `grid-template-columns: 8rem repeat(${slots}, minmax(5rem, 1fr))` });
  for (const lane of lanes) {
    grid.append(h("div", { class: "lane" }, panelName.get(lane) ?? lane));
    for (let slot = 0; slot < slots; slot++) {
      const item = placed.find((p) => p.panelId === lane && p.slot === slot);
      if (!item) {
        grid.append(h("div", { class: "slot empty" }));
        continue;
      }
      const time = new Date(item.startsAt).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
      grid.append(
        h(
          "div",
          { class: item.refused ? "slot refused" : "slot", title: item.refused ?? "", "data-code": item.code },
          h("strong", {}, item.code),
          h("small", {}, time),
          item.refused ? h("small", {}, t("refused")) : null,
        ),
      );
    }
  }
  return grid;
}


/** Scores of one session: the table, a CSV download and the printable page (both
 *  fetched with the administrator's token, then handed to the browser as files). */
