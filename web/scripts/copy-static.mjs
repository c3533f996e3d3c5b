// Copies the static pages and styles next to the compiled scripts.
import { cpSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
mkdirSync(join(root, "dist", "assets"), { recursive: true });
cpSync(join(root, "public"), join(root, "dist"), { recursive: true });
// The HLS player for the help-video pages (from the lock file's hls.js, never a CDN).
mkdirSync(join(root, "dist", "assets", "vendor"), { recursive: true });
cpSync(
  join(root, "node_modules", "hls.js", "dist", "hls.light.min.js"),
  join(root, "dist", "assets", "vendor", "hls.min.js"),
);
console.log("web client built into web/dist");
