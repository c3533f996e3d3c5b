// The institute's yearly indicators against their targets.

import { targetBars } from "../charts.js";
import { h } from "../dom.js";
import { t } from "../i18n.js";
import { get } from "./api.js";
import type { Indicator } from "./types.js";
import { field, message, table } from "./ui.js";

export async function yearView(): Promise<HTMLElement> {
  const out = h("div", { id: "year-indicators" });
  const year = h("input", { type: "number", name: "year", value: String(new Date().getFullYear()), min: "2000", max: "2200" });
  const load = async () => {
    const res = await get<{ indicators: Indicator[] }>(`/api/v1/report?year=${encodeURIComponent(year.value)}`);
    if (!res.ok) return message(out, `${t("refused")}: ${res.status}`, "error");
    const rows = res.body.indicators;
    out.replaceChildren(
      targetBars(rows),
      table([t("name"), t("note")], rows.map((r) => [r.label, r.note])),
    );
  };
  await load();
  return h("div", {}, h("form", { class: "inline", onsubmit: (e: Event) => { e.preventDefault(); void load(); } },
    field(t("year"), year), h("button", { class: "primary", type: "submit" }, t("show"))), out);
}

