// The directory: people, panels and projects, listed and created.

import { h } from "../dom.js";
import { roleName, t } from "../i18n.js";
import { list, post, refusalText } from "./api.js";
import type { Named, NewPanelBody, NewPersonBody, PanelRow, PersonRow, ProjectRow } from "./types.js";
import { field, message, refresh, table } from "./ui.js";

export async function peopleView(): Promise<HTMLElement> {
  const [people, orgs] = await Promise.all([
    list<PersonRow>("/api/v1/people"),
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
    const person: NewPersonBody = {
      name: name.value,
      email: email.value || undefined,
      organisationId: org.value || undefined,
      roles: [role.value],
      fields: fields.value.split(/[,，、;；]/).map((s) => s.trim()).filter(Boolean),
    };
    const res = await post<PersonRow>("/api/v1/people", person);
    if (!res.ok) return message(status, refusalText(res), "error");
    refresh();
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

export async function panelsView(): Promise<HTMLElement> {
  const [panels, people] = await Promise.all([
    list<PanelRow>("/api/v1/panels"),
    list<PersonRow>("/api/v1/people"),
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
    const panel: NewPanelBody = { name: name.value, chairId: memberIds[0], memberIds };
    const res = await post<PanelRow>("/api/v1/panels", panel);
    if (!res.ok) return message(status, refusalText(res), "error");
    refresh();
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

export async function projectsView(): Promise<HTMLElement> {
  const [projects, people, programmes, orgs] = await Promise.all([
    list<ProjectRow>("/api/v1/projects"),
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

