// Benchmark of the single executables (npm run bench → BENCHMARKS.md "## stickvm single
// executables"): their sizes against the Node binary each embeds, and how long the Linux one
// takes to start against that same Node binary started bare, side by side in one script.
//   node dist/scripts/bench/exe-bench.js [--runs 15] [--out FILE]
import { stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { buildExecutables, defaultCacheDir, nodeBinary, NODE_VERSION, TARGETS, type BuiltExe } from "../exe/build-exe.js";
import { machine, makeLog, median, run, writeSection } from "./bench-util.js";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
const SECTION = "## stickvm single executables";
const MiB = 1024 * 1024;
const log = makeLog("exe-bench");

interface StartRow {
  label: string;
  command: string;
  seconds: number[];
}

/** Wall times of `runs` starts of `argv`, after one untimed start (page cache warm). */
async function starts(argv: string[], runs: number): Promise<number[]> {
  await run(argv);
  const out: number[] = [];
  for (let i = 0; i < runs; i++) out.push((await run(argv)).seconds);
  return out;
}

const ms = (s: number): string => (s * 1000).toFixed(0);

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { runs: { type: "string", default: "15" }, out: { type: "string", default: join(ROOT, "BENCHMARKS.md") } } });
  const runs = Number(values.runs);
  const startedAt = new Date();
  const outDir = join(tmpdir(), "stickvm-exe-bench");
  log(`building the four executables into ${outDir}`);
  const t0 = process.hrtime.bigint();
  const built: BuiltExe[] = await buildExecutables({ distDir: join(ROOT, "dist"), outDir, targets: TARGETS, log });
  const buildSeconds = Number(process.hrtime.bigint() - t0) / 1e9;

  const sizes: string[] = [];
  for (const b of built) {
    const node = (await stat(await nodeBinary(b.target, defaultCacheDir()))).size;
    sizes.push(`| \`${b.target.exe}\` | ${b.target.pkg} ${NODE_VERSION} | ${(b.bytes / MiB).toFixed(1)} | ${(node / MiB).toFixed(1)} | ${((b.bytes - node) / 1024).toFixed(0)} |`);
  }

  const linux = built.find((b) => b.target.name === "linux-x64");
  if (linux === undefined) throw new Error("the Linux executable was not built");
  const bareNode = await nodeBinary(linux.target, defaultCacheDir());
  const rows: StartRow[] = [];
  for (const [label, argv] of [
    [`bare Node ${NODE_VERSION} (\`node -e 0\`), the baseline`, [bareNode, "-e", "0"]],
    ["`stickvm-linux-x64 --version`", [linux.path, "--version"]],
    ["`stickvm-linux-x64 host --json` (host detection)", [linux.path, "host", "--json"]],
    [`\`node dist/launcher/stickvm.js --version\` (Node ${process.version}, unbundled)`, [process.execPath, join(ROOT, "dist", "launcher", "stickvm.js"), "--version"]],
  ] as const) {
    log(`timing ${label}`);
    rows.push({ label, command: argv.join(" "), seconds: await starts([...argv], runs) });
  }
  const base = median(rows[0]?.seconds ?? []);
  const m = await machine(ROOT);
  const text = [
    SECTION,
    "",
    `_Written by scripts/bench/exe-bench.ts (\`npm run bench\`) on ${startedAt.toISOString().slice(0, 16).replace("T", " ")} UTC; building the four took ${buildSeconds.toFixed(0)} s (Node binaries from the cache in ${defaultCacheDir()})._`,
    "",
    "Issue 4 asks for the size of the executables, and for the time from starting the executable to QEMU running (under 1 s without the passphrase KDF); `stickvm run` does not exist yet, so that time is not measured here: the start-up rows below are the launcher's part of it.",
    "",
    "### Sizes",
    "",
    "The difference is the SEA blob (the bundled launcher and its worker script) less whatever the injection removed: the macOS binaries lose their code signature (re-sign them on a Mac, README), which weighs more than the blob.",
    "",
    "| executable | Node inside | MiB | that Node binary alone, MiB | difference, KiB |",
    "|---|---|---:|---:|---:|",
    ...sizes,
    "",
    "### Start-up of the Linux executable",
    "",
    `${String(runs)} starts of each after one untimed start, one after another; wall time from spawn to exit.`,
    "",
    "| command | median ms | min ms | max ms | vs bare Node |",
    "|---|---:|---:|---:|---:|",
    ...rows.map((r) => `| ${r.label} | ${ms(median(r.seconds))} | ${ms(Math.min(...r.seconds))} | ${ms(Math.max(...r.seconds))} | ${(median(r.seconds) / base).toFixed(2)}× |`),
    "",
    "### Machine",
    "",
    `- CPU: ${m.cpu}, ${String(m.cores)} cores; RAM ${m.ram}`,
    `- OS: ${m.os}; kernel ${m.kernel}`,
    `- stickvm commit ${m.commit}`,
    "",
  ].join("\n");
  await writeSection(values.out, SECTION, text);
  log(`wrote ${values.out}`);
}

await main();
