// The public help-video library: a searchable list (phone-sized first) and a player
// (HLS through hls.js where the browser has no native HLS, MP4 download beside it).
// Each page view that starts playing counts one view.

import { h } from "./dom.js";
import { languageToggle, t } from "./i18n.js";

interface HelpVideo {
  id: string;
  title: string;
  description: string;
  tags: string[];
  category: string;
  envoy: string;
  publishedAt: string;
  views: number;
  durationMs: number | null;
  thumbnail: string;
  hls: string;
  mp4: string;
  chapters: string;
}

// hls.js is loaded as a classic script (vendor copy from the lock file).
interface HlsInstance {
  loadSource(url: string): void;
  attachMedia(video: HTMLVideoElement): void;
  on(event: string, handler: (event: string, data: { fatal?: boolean }) => void): void;
}
interface HlsClass {
  new (): HlsInstance;
  isSupported(): boolean;
  Events: { ERROR: string };
}
declare global {
  interface Window {
    Hls?: HlsClass;
  }
}

const root = document.getElementById("help") as HTMLElement;

function minutes(ms: number | null): string {
  if (ms === null) return "";
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

async function fetchJson<T>(url: string): Promise<T> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${res.status}`);
  return (await res.json()) as T;
}

async function showList(): Promise<void> {
  const search = h("input", { type: "search", id: "help-q", placeholder: t("helpSearch") });
  const category = h("select", { id: "help-category" }, h("option", { value: "" }, t("helpAllCategories")));
  const list = h("ul", { id: "help-list", class: "cards" });
  root.replaceChildren(h("div", { class: "search" }, search, category), list);

  const all = await fetchJson<HelpVideo[]>("/api/v1/help-videos");
  for (const c of [...new Set(all.map((v) => v.category))].sort()) {
    category.append(h("option", { value: c }, c));
  }
  const render = async () => {
    const params = new URLSearchParams({ q: search.value, category: category.value });
    const videos = await fetchJson<HelpVideo[]>(`/api/v1/help-videos?${params}`);
    list.replaceChildren(
      ...(videos.length === 0
        ? [h("li", { class: "empty" }, t("helpNone"))]
        : videos.map((v) =>
            h(
              "li",
              {},
              h(
                "a",
                { href: `/help?v=${encodeURIComponent(v.id)}`, "data-video": v.id },
                h("img", { src: v.thumbnail, alt: "", loading: "lazy", width: 480, height: 270 }),
                h("strong", {}, v.title),
                h("span", { class: "meta" }, `${v.category} · ${v.envoy} · ${minutes(v.durationMs)} · ${v.views} ${t("helpViews")}`),
              ),
            ),
          )),
    );
  };
  let timer: number | undefined;
  search.addEventListener("input", () => {
    window.clearTimeout(timer);
    timer = window.setTimeout(render, 250);
  });
  category.addEventListener("change", render);
  await render();
}

async function showVideo(id: string): Promise<void> {
  const v = await fetchJson<HelpVideo>(`/api/v1/help-videos/${encodeURIComponent(id)}`);
  document.title = v.title;
  const video = h("video", { id: "help-player", controls: true, playsInline: true, preload: "metadata", poster: v.thumbnail });
  video.append(h("track", { kind: "chapters", src: v.chapters, srclang: "zh", default: true }));
  const views = h("span", { id: "help-views" }, `${v.views} ${t("helpViews")}`);
  const notice = h("p", { class: "notice", role: "status" });
  root.replaceChildren(
    h("p", {}, h("a", { href: "/help" }, `← ${t("helpBack")}`)),
    h("h2", {}, v.title),
    video,
    notice,
    h("p", { class: "meta" }, `${t("helpEnvoy")}: ${v.envoy} · ${v.category} · `, views),
    h("p", {}, v.description),
    h("p", { class: "tags" }, ...v.tags.map((tag) => h("span", { class: "tag" }, tag))),
    h("p", {}, h("a", { href: `${v.mp4}?download=1`, id: "help-download", download: "" }, t("helpDownload"))),
  );
  if (video.canPlayType("application/vnd.apple.mpegurl")) {
    video.src = v.hls;
  } else if (window.Hls?.isSupported()) {
    const hls = new window.Hls();
    hls.on(window.Hls.Events.ERROR, (_event, data) => {
      if (data.fatal) notice.textContent = t("helpUnplayable");
    });
    hls.loadSource(v.hls);
    hls.attachMedia(video);
  } else {
    video.src = v.mp4;
  }
  let counted = false;
  video.addEventListener("playing", async () => {
    if (counted) return;
    counted = true;
    const res = await fetch(`/api/v1/help-videos/${encodeURIComponent(id)}/views`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ viewer: viewerId() }),
    });
    if (res.ok) {
      const result = (await res.json()) as { views: number };
      views.textContent = `${result.views} ${t("helpViews")}`;
    }
  });
}

/** This browser's opaque viewer id: the server counts one view per viewer, video and
 * day, so a reload or replay is not another view. Without storage (private mode), one
 * per page load. */
function viewerId(): string {
  const key = "viva.viewer";
  try {
    const known = localStorage.getItem(key);
    if (known && /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(known)) return known;
    const fresh = randomUuid();
    localStorage.setItem(key, fresh);
    return fresh;
  } catch {
    return randomUuid();
  }
}

/** A version-4 UUID (`crypto.randomUUID` exists only on HTTPS pages). */
function randomUuid(): string {
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const hex = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

async function main(): Promise<void> {
  const title = document.getElementById("help-title") as HTMLElement;
  title.textContent = t("helpTitle");
  languageToggle(document.getElementById("lang") as HTMLElement);
  const id = new URLSearchParams(location.search).get("v");
  try {
    await (id ? showVideo(id) : showList());
  } catch (e) {
    root.replaceChildren(h("p", { class: "error" }, `${t("error")}: ${String(e)}`));
  }
}

void main();
