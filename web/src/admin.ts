// The admin page (/): sign in, book a session, get the personal join links.

import { languageToggle, roleName, t } from "./i18n.js";

const app = document.getElementById("app")!;
languageToggle(document.getElementById("toolbar")!);
document.title = t("adminTitle");
document.getElementById("heading")!.textContent = t("adminTitle");

function field(label: string, input: HTMLElement): HTMLLabelElement {
  const el = document.createElement("label");
  el.append(label, input);
  return el;
}

function input(name: string, type = "text", value = ""): HTMLInputElement {
  const el = document.createElement("input");
  el.name = name;
  el.type = type;
  el.value = value;
  el.required = true;
  return el;
}

async function api(path: string, body: unknown, token?: string): Promise<Response> {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (token) headers.authorization = `Bearer ${token}`;
  return fetch(path, { method: "POST", headers, body: JSON.stringify(body) });
}

function showError(form: HTMLElement, text: string): void {
  let el = form.querySelector<HTMLElement>(".error");
  if (!el) {
    el = document.createElement("p");
    el.className = "error";
    form.appendChild(el);
  }
  el.textContent = text;
}

function loginForm(): void {
  const form = document.createElement("form");
  const username = input("username", "text", "admin");
  const password = input("password", "password");
  const submit = document.createElement("button");
  submit.textContent = t("signIn");
  form.append(field(t("username"), username), field(t("password"), password), submit);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const res = await api("/api/v1/auth/login", { username: username.value, password: password.value });
    const body = await res.json();
    if (!res.ok) return showError(form, body.message);
    sessionStorage.setItem("viva.adminToken", body.token);
    bookingForm(body.token);
  });
  app.replaceChildren(form);
}

function localDateTimeValue(date: Date): string {
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

function bookingForm(token: string): void {
  const form = document.createElement("form");
  const heading = document.createElement("h2");
  heading.textContent = t("bookSession");
  const title = input("title", "text", "");
  const start = input("start", "datetime-local", localDateTimeValue(new Date()));
  const duration = input("duration", "number", "45");
  const people = document.createElement("textarea");
  people.rows = 6;
  people.value = "秘书,host\n申请人,applicant\n专家一,expert\n专家二,expert\n专家三,expert";
  const submit = document.createElement("button");
  submit.textContent = t("book");
  const links = document.createElement("section");
  form.append(
    heading,
    field(t("sessionTitle"), title),
    field(t("start"), start),
    field(t("duration"), duration),
    field(t("participantsHelp"), people),
    submit,
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
    const res = await api(
      "/api/v1/sessions",
      {
        title: title.value,
        start: new Date(start.value).toISOString(),
        durationMinutes: Number(duration.value),
        timeZone: Intl.DateTimeFormat().resolvedOptions().timeZone,
        participants,
      },
      token,
    );
    const body = await res.json();
    if (res.status === 401) return loginForm();
    if (!res.ok) return showError(form, body.message);
    const list = document.createElement("ul");
    for (const link of body.joinLinks) {
      const item = document.createElement("li");
      const a = document.createElement("a");
      a.href = link.url;
      a.textContent = `${link.name} · ${roleName(link.role)}`;
      a.target = "_blank";
      item.append(a);
      list.append(item);
    }
    const h = document.createElement("h3");
    h.textContent = t("joinLinks");
    links.replaceChildren(h, list);
  });
  app.replaceChildren(form, links);
}

const saved = sessionStorage.getItem("viva.adminToken");
if (saved) bookingForm(saved);
else loginForm();
