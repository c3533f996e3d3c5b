// A session's scores: the table, a CSV download and the printable page.

import { h } from "../dom.js";
import { t } from "../i18n.js";
import { bearer, get, refusalText } from "./api.js";
import type { ScoresReply } from "./types.js";
import { field, message, table } from "./ui.js";

export async function recordsView(): Promise<HTMLElement> {
  const out = h("div");
  const input = h("input", { name: "sessionId", placeholder: "00000000-0000-…", size: 40 });
  const download = async (path: string, filename: string | null) => {
    const res = await fetch(path, { headers: { authorization: `Bearer ${bearer()}` } });
    if (!res.ok) return message(out, `${t("refused")}: ${res.status}`, "error");
    const url = URL.createObjectURL(await res.blob());
    if (filename) h("a", { href: url, download: filename }).click();
    else window.open(url, "_blank");
  };
  const form = h("form", { class: "inline", onsubmit: async (e: Event) => {
    e.preventDefault();
    const id = input.value.trim();
    const res = await get<ScoresReply>(`/api/v1/sessions/${encodeURIComponent(id)}/scores`);
    if (!res.ok) return message(out, `${t("refused")}: ${refusalText(res)}`, "error");
    const r = res.body;
    out.replaceChildren(
      table([t("name"), ...r.criteria.map((c) => c.name), t("total"), t("comment")],
        r.sheets.map((s) => [
          s.name, ...r.criteria.map((_, i) => String(s.scores?.[i] ?? "")),
          s.total === null ? "—" : s.total.toFixed(2), s.comment])),
      h("p", {}, `${t("mean")}: ${r.mean === null ? "—" : r.mean.toFixed(2)}`),
      h("div", { class: "row" },
        h("button", { type: "button", onclick: () => void download(`/api/v1/sessions/${id}/scores.csv`, `scores-${id}.csv`) }, "CSV"),
        h("button", { type: "button", onclick: () => void download(`/api/v1/sessions/${id}/scores/print`, null) }, t("print"))));
  } }, field(t("sessionId"), input), h("button", { class: "primary", type: "submit" }, t("show")));
  return h("div", {}, form, out);
}

/** The audit log (latest first) and its verification. */
