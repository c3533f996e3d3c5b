// The administrator's pages (/): sign in, then one tab per task (booking, people,
// panels, projects, CSV import, the defense-day planner, scores, recordings,
// stability, the yearly report, the audit log), each in its own module under
// `admin/`. Every action goes through the REST API (`admin/api.ts`); the server checks
// every rule.

import { auditView } from "./admin/audit.js";
import { bookView } from "./admin/book.js";
import { dayView } from "./admin/day.js";
import { panelsView, peopleView, projectsView } from "./admin/directory.js";
import { importView } from "./admin/import.js";
import { onSignedOut, post, refusalText, signIn, signedIn } from "./admin/api.js";
import { recordingsView } from "./admin/recordings.js";
import { recordsView } from "./admin/records.js";
import { stabilityView } from "./admin/stability.js";
import { field, message, onRefresh } from "./admin/ui.js";
import { yearView } from "./admin/year.js";
import { h } from "./dom.js";
import { languageToggle, t } from "./i18n.js";

const app = document.getElementById("app")!;
languageToggle(document.getElementById("toolbar")!);
document.title = t("adminTitle");
document.getElementById("heading")!.textContent = t("adminTitle");

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
    const res = await post<{ token: string }>("/api/v1/auth/login", { username: username.value, password: password.value });
    if (!res.ok) return message(status, refusalText(res), "error");
    signIn(res.body.token);
    void shell();
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

onSignedOut(loginForm);
onRefresh(() => void shell());
window.addEventListener("hashchange", () => {
  if (signedIn()) void shell();
});

if (signedIn()) void shell();
else loginForm();
