// CSV import of organisations, experts or projects, with the refused rows listed.

import { h } from "../dom.js";
import { t } from "../i18n.js";
import { post, refusalText } from "./api.js";
import type { ImportSummary } from "./types.js";
import { field, message, table } from "./ui.js";

export async function importView(): Promise<HTMLElement> {
  const kind = h("select", { name: "kind" }, ...["organisations", "experts", "projects"].map((k) => h("option", { value: k }, t(`importKind_${k}` as Parameters<typeof t>[0]))));
  const file = h("input", { type: "file", name: "file", accept: ".csv,text/csv", required: true });
  const report = h("section", { id: "import-report" });
  const form = h("form", { id: "import" }, field(t("importKind"), kind), field(t("importFile"), file), h("button", {}, t("importRun")), report);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const chosen = file.files?.[0];
    if (!chosen) return;
    const res = await post<ImportSummary>(`/api/v1/import/${kind.value}`, chosen);
    if (res.ok) {
      const s = res.body;
      return message(report, `${t("importDone")} ${s.organisations} / ${s.people} / ${s.projects}`, "ok");
    }
    const rows = res.body?.rows ?? [];
    report.replaceChildren(
      h("p", { class: "error" }, rows.length ? t("importFailed") : refusalText(res)),
      table([t("line"), t("reason")], rows.map((r) => [String(r.line), r.reason])),
    );
  });
  return form;
}

