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
import { rm } from "node:fs/promises";
import { ARGON2_DEFAULT, ARGON2_MIN } from "../../src/crypto/kdf.js";
import { machine, makeLog, median, run, writeSection } from "./bench-util.js";
import { kdfSeconds, makeBenchStick, qemuAloneSeconds, runStartSeconds } from "./run-start.js";

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

  // time to QEMU: the fast-KDF stick shows the launcher's own part, the default one what a user waits
  log("timing stickvm run to QEMU running");
  const sticks = [await makeBenchStick(ARGON2_MIN), await makeBenchStick(ARGON2_DEFAULT)];
  const startRuns = Math.max(3, Math.round(runs / 3));
  const timed = async (f: () => Promise<number>): Promise<number[]> => {
    await f();
    const out: number[] = [];
    for (let i = 0; i < startRuns; i++) out.push(await f());
    return out;
  };
  const qemuAlone = await timed(qemuAloneSeconds);
  const runRows: { label: string; seconds: number[] }[] = [];
  for (const s of sticks) {
    const kdf = `argon2id m=${String(s.kdf.memoryKiB / 1024)} MiB, t=${String(s.kdf.passes)}`;
    runRows.push({ label: `\`stickvm-linux-x64 run --headless\`, stick with ${kdf}`, seconds: await timed(() => runStartSeconds([linux.path], s)) });
    runRows.push({ label: `${kdf} alone (in this script's Node ${process.version})`, seconds: await timed(() => kdfSeconds(s.kdf)) });
    await rm(s.dir, { recursive: true, force: true });
  }
  const [fastRun, fastKdf, slowRun, slowKdf] = runRows.map((r) => median(r.seconds));
  const withoutKdf = (fastRun ?? 0) - (fastKdf ?? 0);
  const m = await machine(ROOT);
  const text = [
    SECTION,
    "",
    `_Written by scripts/bench/exe-bench.ts (\`npm run bench\`) on ${startedAt.toISOString().slice(0, 16).replace("T", " ")} UTC; building the four took ${buildSeconds.toFixed(0)} s (Node binaries from the cache in ${defaultCacheDir()})._`,
    "",
    "Issue 4 asks for the size of the executables, and for the time from starting the executable to QEMU running, under 1 s without the passphrase KDF.",
    "",
    "### Time from starting the executable to QEMU running",
    "",
    `From spawning \`stickvm-linux-x64 run --headless\` (passphrase in \`STICKVM_PASSPHRASE\`) until it prints "the guest is running", which it does once QEMU answers on its QMP socket; ${String(startRuns)} runs each after one untimed run. QEMU is the host's \`qemu-system-x86_64\` on PATH (TCG: this machine has no usable KVM); the stick is 8 MiB of random system disk. The baseline is the same QEMU started bare (q35, TCG, no disks, no display) until it answers on QMP.`,
    "",
    "| what | median ms | min ms | max ms |",
    "|---|---:|---:|---:|",
    `| baseline: \`qemu-system-x86_64\` alone, spawn to QMP greeting | ${ms(median(qemuAlone))} | ${ms(Math.min(...qemuAlone))} | ${ms(Math.max(...qemuAlone))} |`,
    ...runRows.map((r) => `| ${r.label} | ${ms(median(r.seconds))} | ${ms(Math.min(...r.seconds))} | ${ms(Math.max(...r.seconds))} |`),
    "",
    `**Without the KDF: ${ms(withoutKdf)} ms** (the fast-KDF run less its KDF; target under 1000 ms: ${withoutKdf < 1 ? "met" : "NOT met"}), of which QEMU's own start is about ${ms(median(qemuAlone))} ms. With the default KDF a user waits ${ms(slowRun ?? 0)} ms, ${ms(slowKdf ?? 0)} ms of it argon2id.`,
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
