// A tiny element builder for the admin views: h("td", {class: "x"}, "text", child).

type Attrs = Record<string, string | boolean | number | EventListener | undefined>;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: (Node | string | null | undefined)[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === false) continue;
    if (typeof value === "function") el.addEventListener(key.replace(/^on/, ""), value);
    else if (key in el && key !== "list") (el as unknown as Record<string, unknown>)[key] = value;
    else el.setAttribute(key, String(value));
  }
  for (const child of children) if (child !== null && child !== undefined) el.append(child);
  return el;
}

/** Makes `parent`'s children exactly `nodes`, in order, without detaching any node
 *  that stays: a node that is moved or re-inserted loses focus and its caret, so a
 *  panel rebuilt while someone types must leave the element they type in where it is.
 *  Children not in `nodes` are removed first; each node of `nodes` is then inserted
 *  before the first remaining child that is not yet in place. */
export function patchChildren(parent: Element, nodes: Node[]): void {
  const keep = new Set(nodes);
  for (const child of [...parent.childNodes]) if (!keep.has(child)) child.remove();
  let cursor = parent.firstChild;
  for (const node of nodes) {
    if (node === cursor) {
      cursor = cursor.nextSibling;
    } else {
      parent.insertBefore(node, cursor);
    }
  }
}
