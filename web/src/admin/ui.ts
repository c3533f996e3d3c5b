// Small pieces every administrator tab builds with: a status line, a labelled field,
// a table, and a way to draw the current tab again after a change.

import { h } from "../dom.js";

export function message(target: HTMLElement, text: string, kind: "error" | "ok"): void {
  target.replaceChildren(h("p", { class: kind }, text));
}

export function field(label: string, input: HTMLElement): HTMLLabelElement {
  return h("label", {}, label, input);
}

export function table(headers: string[], rows: (string | Node)[][]): HTMLTableElement {
  return h(
    "table",
    {},
    h("thead", {}, h("tr", {}, ...headers.map((x) => h("th", {}, x)))),
    h("tbody", {}, ...rows.map((r) => h("tr", {}, ...r.map((c) => h("td", {}, c))))),
  );
}

/** A date as a `datetime-local` input's value, in the browser's time zone. */
export function localDateTimeValue(date: Date): string {
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}`;
}

let redraw: () => void = () => {};

/** Draws the current tab again (after a change it shows). */
export function refresh(): void {
  redraw();
}

/** What [`refresh`] does: set once by the page's shell. */
export function onRefresh(then: () => void): void {
  redraw = then;
}
