// The administrator's pages (/): sign in, then tabs for booking, people, panels,
// projects, CSV import (with its error report) and the defense-day planner/timeline.
// Every action goes through the REST API; the server checks every rule.

import { color, lineChart, Mark, Series, targetBars } from "./charts.js";
import { h } from "./dom.js";
import { languageToggle, roleName, t } from "./i18n.js";

const app = document.getElementById("app")!;
languageToggle(document.getElementById("toolbar")!);
document.title = t("adminTitle");
document.getElementById("heading")!.textContent = t("adminTitle");

let token = sessionStorage.getItem("viva.adminToken") ?? "";

interface Reply {
  ok: boolean;
  status: number;
  body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

async function api(method: string, path: string, body?: unknown): Promise<Reply> {
  const headers: Record<string, string> = {};
  if (token) headers.authorization = `Bearer ${token}`;
  let payload: BodyInit | undefined;
  if (body instanceof Blob || typeof body === "string") {
    payload = body;
  } else if (body !== undefined) {
    headers["content-type"] = "application/json";
    payload = JSON.stringify(body);
  }
  const res = await fetch(path, { method, headers, body: payload });
  const text = await res.text();
  let parsed: unknown = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = { message: text };
  }
  if (res.status === 401 && path !== "/api/v1/auth/login") {
    token = "";
    sessionStorage.removeItem("viva.adminToken");
    loginForm();
  }
  return { ok: res.ok, status: res.status, body: parsed };
}

function message(target: HTMLElement, text: string, kind: "error" | "ok"): void {
  target.replaceChildren(h("p", { class: kind }, text));
}

function field(label: string, input: HTMLElement): HTMLLabelElement {
  return h("label", {}, label, input);
}

function table(headers: string[], rows: (string | Node)[][]): HTMLTableElement {
  return h(
    "table",
    {},
    h("thead", {}, h("tr", {}, ...headers.map((x) => h("th", {}, x)))),
    h("tbody", {}, ...rows.map((r) => h("tr", {}, ...r.map((c) => h("td", {}, c))))),
  );
}

function loginForm(): void {
  const username = h("input", { name: "username", value: "admin", required: true });
  const password = h("input", { name: "password", type: "password", required: true });
  const status = h("div", {});
  const form = h(
    "form",
    { id: "login" },
    field(t("username"), username),
    field(t("password"), password),
    h("button", {}, t("signIn")),
    status,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const res = await api("POST", "/api/v1/auth/login", { username: username.value, password: password.value });
    if (!res.ok) return message(status, res.body?.message ?? String(res.status), "error");
    token = res.body.token;
    sessionStorage.setItem("viva.adminToken", token);
    shell();
  });
  app.replaceChildren(form);
}

const tabs: [string, () => string, () => Promise<HTMLElement>][] = [
  ["book", () => t("tabBook"), bookView],
  ["people", () => t("tabPeople"), peopleView],
  ["panels", () => t("tabPanels"), panelsView],
  ["projects", () => t("tabProjects"), projectsView],
  ["import", () => t("tabImport"), importView],
  ["day", () => t("tabDay"), dayView],
  ["records", () => t("tabRecords"), recordsView],
  ["recordings", () => t("tabRecordings"), recordingsView],
  ["stability", () => t("tabStability"), stabilityView],
  ["year", () => t("tabYear"), yearView],
  ["audit", () => t("tabAudit"), auditView],
];

async function shell(): Promise<void> {
  const current = location.hash.slice(1) || "book";
  const nav = h(
    "nav",
    { class: "tabs" },
    ...tabs.map(([id, label]) =>
      h("a", { href: `#${id}`, class: id === current ? "active" : "", "data-tab": id }, label()),
    ),
  );
  const view = tabs.find(([id]) => id === current) ?? tabs[0];
  app.replaceChildren(nav, await view[2]());
}
window.addEventListener("hashchange", () => {
  if (token) void shell();
});

// ---- Book a session by hand -------------------------------------------------------

function localDateTimeValue(date: Date): string {
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

async function bookView(): Promise<HTMLElement> {
  const title = h("input", { name: "title", required: true });
  const start = h("input", { name: "start", type: "datetime-local", value: localDateTimeValue(new Date()), required: true });
  const duration = h("input", { name: "duration", type: "number", value: "45", required: true });
  const people = h("textarea", { rows: 6 });
  people.value = "秘书,host\n申请人,applicant\n专家一,expert\n专家二,expert\n专家三,expert";
  const links = h("section", {});
  const status = h("div", {});
  const form = h(
    "form",
    { id: "book" },
    h("h2", {}, t("bookSession")),
    field(t("sessionTitle"), title),
    field(t("start"), start),
    field(t("duration"), duration),
    field(t("participantsHelp"), people),
    h("button", {}, t("book")),
    status,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const participants = people.value
      .split("\n")
      .map((line) => line.trim())
      .filter(Boolean)
      .map((line) => {
        const [name, role] = line.split(/[,，]/).map((s) => s.trim());
        return { name, role };
      });
    const res = await api("POST", "/api/v1/sessions", {
      title: title.value,
      start: new Date(start.value).toISOString(),
      durationMinutes: Number(duration.value),
      timeZone: Intl.DateTimeFormat().resolvedOptions().timeZone,
      participants,
    });
    if (!res.ok) return message(status, res.body?.message ?? String(res.status), "error");
    status.replaceChildren();
    links.replaceChildren(
      h("h3", {}, t("joinLinks")),
      h(
        "ul",
        {},
        ...res.body.joinLinks.map((link: { url: string; name: string; role: string }) =>
          h("li", {}, h("a", { href: link.url, target: "_blank" }, `${link.name} · ${roleName(link.role)}`)),
        ),
      ),
    );
  });
  return h("div", {}, form, links);
}

// ---- Directory --------------------------------------------------------------------

interface Named {
  id: string;
  name: string;
}

async function list<T>(path: string): Promise<T[]> {
  const res = await api("GET", path);
  return res.ok ? (res.body as T[]) : [];
}

async function peopleView(): Promise<HTMLElement> {
  const [people, orgs] = await Promise.all([
    list<Named & { email?: string; organisationId?: string; roles: string[]; fields: string[] }>("/api/v1/people"),
    list<Named>("/api/v1/organisations"),
  ]);
  const orgName = new Map(orgs.map((o) => [o.id, o.name]));
  const name = h("input", { required: true });
  const email = h("input", { type: "email" });
  const org = h("select", {}, h("option", { value: "" }, "—"), ...orgs.map((o) => h("option", { value: o.id }, o.name)));
  const role = h("select", {}, ...["expert", "applicant", "host", "trainer", "trainee", "observer"].map((r) => h("option", { value: r }, roleName(r))));
  const fields = h("input", {});
  const status = h("div", {});
  const form = h("form", { class: "inline" }, field(t("name"), name), field(t("email"), email), field(t("organisation"), org), field(t("roles"), role), field(t("fields"), fields), h("button", {}, t("create")), status);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const res = await api("POST", "/api/v1/people", {
      name: name.value,
      email: email.value || undefined,
      organisationId: org.value || undefined,
      roles: [role.value],
      fields: fields.value.split(/[,，、;；]/).map((s) => s.trim()).filter(Boolean),
    });
    if (!res.ok) return message(status, res.body?.message ?? String(res.status), "error");
    void shell();
  });
  return h(
    "section",
    {},
    form,
    table(
      [t("name"), t("email"), t("organisation"), t("roles"), t("fields")],
      people.map((p) => [p.name, p.email ?? "", orgName.get(p.organisationId ?? "") ?? "", p.roles.map(roleName).join("、"), p.fields.join("、")]),
    ),
  );
}

async function panelsView(): Promise<HTMLElement> {
  const [panels, people] = await Promise.all([
    list<Named & { chairId?: string; members: string[] }>("/api/v1/panels"),
    list<Named & { roles: string[] }>("/api/v1/people"),
  ]);
  const personName = new Map(people.map((p) => [p.id, p.name]));
  const experts = people.filter((p) => p.roles.includes("expert"));
  const name = h("input", { required: true });
  const members = h("select", { multiple: true, size: 8 }, ...experts.map((e) => h("option", { value: e.id }, e.name)));
  const status = h("div", {});
  const form = h("form", { class: "inline" }, field(t("name"), name), field(t("members"), members), h("button", {}, t("create")), status);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const memberIds = Array.from(members.selectedOptions).map((o) => o.value);
    const res = await api("POST", "/api/v1/panels", { name: name.value, chairId: memberIds[0], memberIds });
    if (!res.ok) return message(status, res.body?.message ?? String(res.status), "error");
    void shell();
  });
  return h(
    "section",
    {},
    form,
    table(
      [t("name"), t("chair"), t("members")],
      panels.map((p) => [p.name, personName.get(p.chairId ?? "") ?? "", p.members.map((m) => personName.get(m) ?? m).join("、")]),
    ),
  );
}

async function projectsView(): Promise<HTMLElement> {
  const [projects, people, programmes, orgs] = await Promise.all([
    list<{ id: string; code: string; title: string; programmeId: string; applicantId: string; organisationId: string; field: string }>("/api/v1/projects"),
    list<Named>("/api/v1/people"),
    list<Named>("/api/v1/programmes"),
    list<Named>("/api/v1/organisations"),
  ]);
  const names = new Map([...people, ...programmes, ...orgs].map((x) => [x.id, x.name]));
  return h(
    "section",
    {},
    table(
      [t("code"), t("name"), t("programme"), t("applicant"), t("organisation"), t("field")],
      projects.map((p) => [p.code, p.title, names.get(p.programmeId) ?? "", names.get(p.applicantId) ?? "", names.get(p.organisationId) ?? "", p.field]),
    ),
  );
}

// ---- Import -------------------------------------------------------------------------

async function importView(): Promise<HTMLElement> {
  const kind = h("select", { name: "kind" }, ...["organisations", "experts", "projects"].map((k) => h("option", { value: k }, k)));
  const file = h("input", { type: "file", name: "file", accept: ".csv,text/csv", required: true });
  const report = h("section", { id: "import-report" });
  const form = h("form", { id: "import" }, field(t("importKind"), kind), field(t("importFile"), file), h("button", {}, t("importRun")), report);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const chosen = file.files?.[0];
    if (!chosen) return;
    const res = await api("POST", `/api/v1/import/${kind.value}`, chosen);
    if (res.ok) {
      const s = res.body;
      return message(report, `${t("importDone")} ${s.organisations} / ${s.people} / ${s.projects}`, "ok");
    }
    const rows: { line: number; reason: string }[] = res.body?.rows ?? [];
    report.replaceChildren(
      h("p", { class: "error" }, rows.length ? t("importFailed") : res.body?.message ?? String(res.status)),
      table([t("line"), t("reason")], rows.map((r) => [String(r.line), r.reason])),
    );
  });
  return form;
}

// ---- Defense day: plan, book, see the timeline, move bookings ------------------------

async function dayView(): Promise<HTMLElement> {
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
    const res = await api("POST", "/api/v1/plan", {
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
      hostName: "秘书",
    });
    if (!res.ok) return message(result, res.body?.message ?? String(res.status), "error");
    result.replaceChildren(timeline(res.body.placed, Number(slots.value), panelName));
    if (res.body.unplaced.length) {
      result.append(
        h("h3", {}, t("unplaced")),
        table([t("code"), t("reason")], res.body.unplaced.map((u: { code: string; reason: string }) => [u.code, u.reason])),
      );
    }
    await showBookings();
  };

  const showBookings = async () => {
    const from = new Date(`${date.value}T00:00:00`);
    const to = new Date(from.getTime() + 24 * 3600 * 1000);
    const [res, allPanels] = await Promise.all([
      api("GET", `/api/v1/sessions?from=${encodeURIComponent(from.toISOString())}&to=${encodeURIComponent(to.toISOString())}`),
      list<Named>("/api/v1/panels"),
    ]);
    if (!res.ok) return;
    const names = new Map(allPanels.map((p) => [p.id, p.name]));
    const sessions = (res.body as { id: string; title: string; startsAt: string; durationMinutes: number; cancelled: boolean; panelId?: string }[])
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
              const r = await api("POST", `/api/v1/sessions/${s.id}/reschedule`, {
                start: new Date(when.value).toISOString(),
                durationMinutes: s.durationMinutes,
              });
              note.className = r.ok ? "ok" : "error";
              note.textContent = r.ok ? t("moved") : `${t("refused")}: ${r.body?.message ?? r.status}`;
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

interface CheckSummary {
  at: string;
  verdict: string;
  path: string | null;
  rttMs: number | null;
  lossPercent: number | null;
}

/** A session's participants with their latest set-up check, so problems are fixed
 *  before the day. */
async function showParticipants(id: string, out: HTMLElement): Promise<void> {
  const res = await api("GET", `/api/v1/sessions/${id}`);
  if (!res.ok) return message(out, `${t("refused")}: ${res.body?.message ?? res.status}`, "error");
  const links = res.body.joinLinks as { participantId: string; name: string; role: string; setupCheck?: CheckSummary }[];
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
  placed: { code: string; panelId: string; slot: number; startsAt: string; refused?: string; sessionId?: string }[],
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

if (token) void shell();
else loginForm();

/** Scores of one session: the table, a CSV download and the printable page (both
 *  fetched with the administrator's token, then handed to the browser as files). */
async function recordsView(): Promise<HTMLElement> {
  const out = h("div");
  const input = h("input", { name: "sessionId", placeholder: "00000000-0000-…", size: 40 });
  const download = async (path: string, filename: string | null) => {
    const res = await fetch(path, { headers: { authorization: `Bearer ${token}` } });
    if (!res.ok) return message(out, `${t("refused")}: ${res.status}`, "error");
    const url = URL.createObjectURL(await res.blob());
    if (filename) h("a", { href: url, download: filename }).click();
    else window.open(url, "_blank");
  };
  const form = h("form", { class: "inline", onsubmit: async (e: Event) => {
    e.preventDefault();
    const id = input.value.trim();
    const res = await api("GET", `/api/v1/sessions/${encodeURIComponent(id)}/scores`);
    if (!res.ok) return message(out, `${t("refused")}: ${res.body?.message ?? res.status}`, "error");
    const r = res.body;
    out.replaceChildren(
      table([t("name"), ...r.criteria.map((c: { name: string }) => c.name), t("total"), t("comment")],
        r.sheets.map((s: { name: string; scores: number[] | null; total: number | null; comment: string }) => [
          s.name, ...r.criteria.map((_: unknown, i: number) => String(s.scores?.[i] ?? "")),
          s.total === null ? "—" : s.total.toFixed(2), s.comment])),
      h("p", {}, `${t("mean")}: ${r.mean === null ? "—" : r.mean.toFixed(2)}`),
      h("div", { class: "row" },
        h("button", { type: "button", onclick: () => void download(`/api/v1/sessions/${id}/scores.csv`, `scores-${id}.csv`) }, "CSV"),
        h("button", { type: "button", onclick: () => void download(`/api/v1/sessions/${id}/scores/print`, null) }, t("print"))));
  } }, field(t("sessionId"), input), h("button", { class: "primary", type: "submit" }, t("show")));
  return h("div", {}, form, out);
}

/** The audit log (latest first) and its verification. */
async function auditView(): Promise<HTMLElement> {
  const verdict = h("div");
  const entries = await list<{ seq: number; at: string; sessionId: string | null; actor: string; action: string; detail: string }>(
    "/api/v1/audit?limit=5000");
  const verify = h("button", { class: "primary", "data-action": "verify", onclick: async () => {
    const res = await api("GET", "/api/v1/audit/verify");
    if (!res.ok) return message(verdict, `${t("refused")}: ${res.status}`, "error");
    if (res.body.intact) message(verdict, `${t("auditIntact")} (${res.body.entries})`, "ok");
    else message(verdict, `${t("auditBroken")} #${res.body.firstBreak.seq}: ${res.body.firstBreak.reason}`, "error");
  } }, t("verify"));
  const latest = entries.slice(-200).reverse();
  return h("div", {}, h("div", { class: "row" }, verify), verdict,
    table(["#", t("date"), t("action"), t("actor"), t("sessionId"), t("detail")],
      latest.map((e) => [String(e.seq), new Date(e.at).toLocaleString(), e.action, e.actor, e.sessionId ?? "", e.detail])));
}

interface SampleRow {
  participantId: string;
  at: string;
  direction: "up" | "down";
  /** `microphone` / `camera` / `screen` sent, `publisher/source` received; "" in rows
   *  stored before tracks were told apart. */
  track: string;
  packets: number;
  lost: number;
  kbps: number;
  jitterMs: number;
  rttMs: number | null;
}

/** Sessions with their stability verdicts (filters: period, verdict, kind); a row
 *  opens that session's timelines. */
async function stabilityView(): Promise<HTMLElement> {
  const out = h("div", { id: "stability-detail" });
  const list = h("div", { id: "stability-list" });
  const day = (d: Date) => d.toISOString().slice(0, 10);
  const from = h("input", { type: "date", name: "from", value: day(new Date(Date.now() - 90 * 864e5)) });
  const to = h("input", { type: "date", name: "to", value: day(new Date(Date.now() + 864e5)) });
  const verdict = h("select", { name: "verdict" },
    h("option", { value: "" }, t("all")), h("option", { value: "stable" }, t("stable")), h("option", { value: "unstable" }, t("unstable")));
  const load = async () => {
    const q = new URLSearchParams({ from: `${from.value}T00:00:00Z`, to: `${to.value}T00:00:00Z`, verdict: verdict.value });
    const res = await api("GET", `/api/v1/stability/sessions?${q}`);
    if (!res.ok) return message(list, `${t("refused")}: ${res.body?.message ?? res.status}`, "error");
    const rows = res.body as { sessionId: string; title: string; startsAt: string; held: boolean; stable: boolean | null; reasons: string[] }[];
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
  const res = await api("GET", `/api/v1/sessions/${id}/stability`);
  if (!res.ok) return message(out, `${t("refused")}: ${res.status}`, "error");
  const rows = res.body.samples as SampleRow[];
  const people = [...new Set(rows.map((s) => s.participantId))];
  const names = new Map<string, string>();
  const session = await api("GET", `/api/v1/sessions/${id}`);
  for (const l of session.body?.joinLinks ?? []) names.set(l.participantId, `${l.name} · ${roleName(l.role)}`);
  const marks: Mark[] = (res.body.phases as { phase: string; at: string }[]).map((p) => ({
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
    h("ul", {}, ...(v.reasons as { summary: string }[]).map((r) => h("li", {}, r.summary))),
    h("div", { class: "legend" }, ...people.map((p, i) => h("span", { style: `color:${color(i)}` }, `■ ${names.get(p) ?? p.slice(0, 8)}`))),
    h("form", { class: "inline" }, field(t("track"), track)),
    charts,
  );
}

/** The institute's yearly indicators against their targets. */
async function yearView(): Promise<HTMLElement> {
  const out = h("div", { id: "year-indicators" });
  const year = h("input", { type: "number", name: "year", value: String(new Date().getFullYear()), min: "2000", max: "2200" });
  const load = async () => {
    const res = await api("GET", `/api/v1/report?year=${encodeURIComponent(year.value)}`);
    if (!res.ok) return message(out, `${t("refused")}: ${res.status}`, "error");
    const rows = res.body.indicators as { label: string; value: number | null; target: number; unit: string; note: string }[];
    out.replaceChildren(
      targetBars(rows),
      table([t("name"), t("note")], rows.map((r) => [r.label, r.note])),
    );
  };
  await load();
  return h("div", {}, h("form", { class: "inline", onsubmit: (e: Event) => { e.preventDefault(); void load(); } },
    field(t("year"), year), h("button", { class: "primary", type: "submit" }, t("show"))), out);
}

// ---- Recordings: post-production progress, signed playback, publishing ------------

let recordingsTimer: number | undefined;

async function recordingsView(): Promise<HTMLElement> {
  const root = h("section", { id: "recordings" });
  const player = h("div", { id: "recording-player" });
  const list = h("div", { id: "recordings-list" });
  root.append(list, player);

  const playOrDownload = async (id: string, use: "play" | "download") => {
    const res = await api("POST", `/api/v1/recordings/${id}/links`, { use });
    if (!res.ok) return message(player, res.body?.message ?? String(res.status), "error");
    if (use === "download") {
      location.href = res.body.url;
      return;
    }
    const video = h("video", { controls: true, playsInline: true, src: res.body.url, poster: res.body.thumbnail ?? "" });
    player.replaceChildren(video, h("p", { class: "meta" }, t("linkExpires") + " " + new Date(res.body.expiresAt).toLocaleTimeString()));
  };

  const publishForm = (id: string) => {
    const title = h("input", { name: "title", required: true });
    const category = h("input", { name: "category", required: true, placeholder: "果树 / 水稻 / 植保" });
    const envoy = h("input", { name: "envoy", required: true });
    const tags = h("input", { name: "tags", placeholder: "修剪, 冬季" });
    const description = h("textarea", { name: "description", rows: 3 });
    const status = h("div", {});
    const form = h(
      "form",
      { class: "publish", "data-recording": id },
      field(t("helpVideoTitle"), title),
      field(t("helpVideoCategory"), category),
      field(t("helpEnvoy"), envoy),
      field(t("helpVideoTags"), tags),
      field(t("helpVideoDescription"), description),
      h("button", {}, t("publish")),
      status,
    );
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const res = await api("POST", `/api/v1/recordings/${id}/publish`, {
        title: title.value,
        category: category.value,
        envoy: envoy.value,
        description: description.value,
        tags: tags.value.split(/[,，]/).map((x) => x.trim()).filter((x) => x),
      });
      if (!res.ok) return message(status, res.body?.message ?? String(res.status), "error");
      message(status, t("published"), "ok");
      await render();
    });
    player.replaceChildren(form);
  };

  const render = async () => {
    const res = await api("GET", "/api/v1/recordings");
    if (!res.ok) return message(list, res.body?.message ?? String(res.status), "error");
    const rows = (res.body as any[]).map((r) => { // eslint-disable-line @typescript-eslint/no-explicit-any
      const job = r.production;
      const state = job ? t(`job_${job.state}` as never) || job.state : "—";
      const progress = job
        ? h("progress", { max: 100, value: Math.round((job.progress ?? 0) * 100), "data-state": job.state }, "")
        : "";
      const actions = h("span", { class: "actions" });
      if (job?.state === "done") {
        actions.append(
          h("button", { "data-action": "play", onclick: () => void playOrDownload(r.id, "play") }, t("play")),
          h("button", { "data-action": "download", onclick: () => void playOrDownload(r.id, "download") }, t("download")),
        );
        if (r.sessionKind === "training" && !r.helpVideoId) {
          actions.append(h("button", { "data-action": "publish", onclick: () => publishForm(r.id) }, t("publish")));
        }
        if (r.helpVideoId) actions.append(h("a", { href: `/help?v=${r.helpVideoId}` }, t("helpVideo")));
      }
      return [
        r.sessionTitle,
        new Date(r.startedAt).toLocaleString(),
        t(`recording_${r.state}` as never) || r.state,
        `${r.parts} · ${(r.bytes / 1e6).toFixed(1)} MB`,
        h("span", { class: "job", "data-job": job?.state ?? "none" }, progress, ` ${state}`, job?.error ? h("small", { class: "error" }, ` ${job.error}`) : ""),
        actions,
      ];
    });
    list.replaceChildren(
      rows.length === 0
        ? h("p", {}, t("noRecordings"))
        : table([t("sessionTitle"), t("start"), t("recordingState"), t("recordingParts"), t("production"), ""], rows),
    );
    // Progress is visible as it happens: refresh while anything is queued or running.
    window.clearTimeout(recordingsTimer);
    const busy = (res.body as any[]).some((r) => ["queued", "running"].includes(r.production?.state)); // eslint-disable-line @typescript-eslint/no-explicit-any
    if (busy && location.hash === "#recordings") recordingsTimer = window.setTimeout(render, 3000);
  };
  await render();
  return root;
}
