// Copies the static pages and styles next to the compiled scripts.
import { cpSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
mkdirSync(join(root, "dist", "assets"), { recursive: true });
cpSync(join(root, "public"), join(root, "dist"), { recursive: true });
console.log("web client built into web/dist");
