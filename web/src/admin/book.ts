// Booking a session by hand: title, time, and participants as free-text lines.

import { h } from "../dom.js";
import { roleName, t } from "../i18n.js";
import { post, refusalText } from "./api.js";
import type { NewSessionBody, SessionWithLinks } from "./types.js";
import { field, localDateTimeValue, message } from "./ui.js";

export async function bookView(): Promise<HTMLElement> {
  const title = h("input", { name: "title", required: true });
  const start = h("input", { name: "start", type: "datetime-local", value: localDateTimeValue(new Date()), required: true });
  const duration = h("input", { name: "duration", type: "number", value: "45", required: true });
  const people = h("textarea", { rows: 6 });
  people.value = t("bookParticipantsExample");
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
    const booking: NewSessionBody = {
      title: title.value,
      start: new Date(start.value).toISOString(),
      durationMinutes: Number(duration.value),
      timeZone: Intl.DateTimeFormat().resolvedOptions().timeZone,
      participants,
    };
    const res = await post<SessionWithLinks>("/api/v1/sessions", booking);
    if (!res.ok) return message(status, refusalText(res), "error");
    status.replaceChildren();
    links.replaceChildren(
      h("h3", {}, t("joinLinks")),
      h(
        "ul",
        {},
        ...res.body.joinLinks.map((link) =>
          h("li", {}, h("a", { href: link.url, target: "_blank" }, `${link.name} · ${roleName(link.role)}`)),
        ),
      ),
    );
  });
  return h("div", {}, form, links);
}

