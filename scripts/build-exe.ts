#!/usr/bin/env node
// `npm run build:exe`: the launcher as single executables in dist/exe/ (scripts/exe/).
// `--only linux-x64` (repeatable) builds a subset.
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { buildExecutables, TARGETS } from "./exe/build-exe.js";

const { values } = parseArgs({ options: { only: { type: "string", multiple: true } } });
const only = values.only ?? TARGETS.map((t) => t.name);
const unknown = only.filter((n) => !TARGETS.some((t) => t.name === n));
if (unknown.length > 0) throw new Error(`unknown target ${unknown.join(", ")}; targets: ${TARGETS.map((t) => t.name).join(", ")}`);

const distDir = join(dirname(fileURLToPath(import.meta.url)), "..");
await buildExecutables({
  distDir,
  outDir: join(distDir, "exe"),
  targets: TARGETS.filter((t) => only.includes(t.name)),
  log: (line) => {
    console.log(line);
  },
});
