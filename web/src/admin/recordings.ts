// Recordings: post-production progress, signed playback and download, and
// publishing a training's recording as a help video.

import { h } from "../dom.js";
import { t } from "../i18n.js";
import { get, post, refusalText } from "./api.js";
import type { MediaLink, PublishBody, RecordingRow } from "./types.js";
import { field, message, table } from "./ui.js";

let recordingsTimer: number | undefined;

export async function recordingsView(): Promise<HTMLElement> {
  const root = h("section", { id: "recordings" });
  const player = h("div", { id: "recording-player" });
  const list = h("div", { id: "recordings-list" });
  root.append(list, player);

  const playOrDownload = async (id: string, use: "play" | "download") => {
    const res = await post<MediaLink>(`/api/v1/recordings/${id}/links`, { use });
    if (!res.ok) return message(player, refusalText(res), "error");
    if (use === "download") {
      location.href = res.body.url;
      return;
    }
    const video = h("video", { controls: true, playsInline: true, src: res.body.url, poster: res.body.thumbnail ?? "" });
    player.replaceChildren(video, h("p", { class: "meta" }, t("linkExpires") + " " + new Date(res.body.expiresAt).toLocaleTimeString()));
  };

  const publishForm = (id: string) => {
    const title = h("input", { name: "title", required: true });
    const category = h("input", { name: "category", required: true, placeholder: t("helpVideoCategoryExample") });
    const envoy = h("input", { name: "envoy", required: true });
    const tags = h("input", { name: "tags", placeholder: t("helpVideoTagsExample") });
    const description = h("textarea", { name: "description", rows: 3 });
    const status = h("div", {});
    const form = h(
      "form",
      { class: "publish", "data-recording": id },
      field(t("helpVideoTitle"), title),
      field(t("helpVideoCategory"), category),
      field(t("helpEnvoy"), envoy),
      field(t("helpVideoTags"), tags),
      field(t("helpVideoDescription"), description),
      h("button", {}, t("publish")),
      status,
    );
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const publication: PublishBody = {
        title: title.value,
        category: category.value,
        envoy: envoy.value,
        description: description.value,
        tags: tags.value.split(/[,，]/).map((x) => x.trim()).filter((x) => x),
      };
      const res = await post<unknown>(`/api/v1/recordings/${id}/publish`, publication);
      if (!res.ok) return message(status, refusalText(res), "error");
      message(status, t("published"), "ok");
      await render();
    });
    player.replaceChildren(form);
  };

  const render = async () => {
    const res = await get<RecordingRow[]>("/api/v1/recordings");
    if (!res.ok) return message(list, refusalText(res), "error");
    const rows = res.body.map((r) => {
      const job = r.production;
      const state = job ? t(`job_${job.state}` as never) || job.state : "—";
      const progress = job
        ? h("progress", { max: 100, value: Math.round((job.progress ?? 0) * 100), "data-state": job.state }, "")
        : "";
      const actions = h("span", { class: "actions" });
      if (job?.state === "done") {
        actions.append(
          h("button", { "data-action": "play", onclick: () => void playOrDownload(r.id, "play") }, t("play")),
          h("button", { "data-action": "download", onclick: () => void playOrDownload(r.id, "download") }, t("download")),
        );
        if (r.sessionKind === "training" && !r.helpVideoId) {
          actions.append(h("button", { "data-action": "publish", onclick: () => publishForm(r.id) }, t("publish")));
        }
        if (r.helpVideoId) actions.append(h("a", { href: `/help?v=${r.helpVideoId}` }, t("helpVideo")));
      }
      return [
        r.sessionTitle,
        new Date(r.startedAt).toLocaleString(),
        t(`recording_${r.state}` as never) || r.state,
        `${r.parts} · ${(r.bytes / 1e6).toFixed(1)} MB`,
        h("span", { class: "job", "data-job": job?.state ?? "none" }, progress, ` ${state}`, job?.error ? h("small", { class: "error" }, ` ${job.error}`) : ""),
        actions,
      ];
    });
    list.replaceChildren(
      rows.length === 0
        ? h("p", {}, t("noRecordings"))
        : table([t("sessionTitle"), t("start"), t("recordingState"), t("recordingParts"), t("production"), ""], rows),
    );
    // Progress is visible as it happens: refresh while anything is queued or running.
    window.clearTimeout(recordingsTimer);
    const busy = res.body.some((r) => ["queued", "running"].includes(r.production?.state ?? ""));
    if (busy && location.hash === "#recordings") recordingsTimer = window.setTimeout(render, 3000);
  };
  await render();
  return root;
}

