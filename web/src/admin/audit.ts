// The audit log (latest first) and its verification.

import { h } from "../dom.js";
import { t } from "../i18n.js";
import { get, list } from "./api.js";
import type { AuditRow, AuditVerdict } from "./types.js";
import { message, table } from "./ui.js";

export async function auditView(): Promise<HTMLElement> {
  const verdict = h("div");
  const entries = await list<AuditRow>(
    "/api/v1/audit?limit=5000");
  const verify = h("button", { class: "primary", "data-action": "verify", onclick: async () => {
    const res = await get<AuditVerdict>("/api/v1/audit/verify");
    if (!res.ok) return message(verdict, `${t("refused")}: ${res.status}`, "error");
    if (res.body.intact) message(verdict, `${t("auditIntact")} (${res.body.entries})`, "ok");
    else message(verdict, `${t("auditBroken")} #${res.body.firstBreak?.seq}: ${res.body.firstBreak?.reason}`, "error");
  } }, t("verify"));
  const latest = entries.slice(-200).reverse();
  return h("div", {}, h("div", { class: "row" }, verify), verdict,
    table(["#", t("date"), t("action"), t("actor"), t("sessionId"), t("detail")],
      latest.map((e) => [String(e.seq), new Date(e.at).toLocaleString(), e.action, e.actor, e.sessionId ?? "", e.detail])));
}

