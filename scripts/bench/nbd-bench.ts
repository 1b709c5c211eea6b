#!/usr/bin/env node
// NBD benchmark: `stickvm serve` against `qemu-nbd` and `nbdkit file`, side by side in one run on one
// 8 GiB image (a 1 GiB ext4 of real files at offset 0, zeros after it). Sequential read of `system`
// with nbdcopy, fio 4 KiB random reads on `system`, fio 4 KiB and 64 KiB random writes with periodic
// flushes on `user` (against a qcow2 + LUKS image), and the server's peak memory. Writes the
// "## stickvm serve (NBD)" section of BENCHMARKS.md (issue 3, "Measure").
//
//   node dist/scripts/bench/nbd-bench.js [--rounds 3] [--runtime 10] [--work DIR] [--user-size 8G]
//                                        [--cpu-prof] [--no-wait] [--only TESTS] [--out FILE]
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { parseSize } from "../../src/util/parse-size.js";
import { type Server, startSocketServer, startStickvm } from "./nbd-servers.js";
import { capture, type Machine, machine, makeLog, median, otherProcesses, processMemory, run, sleep, writeSection } from "./bench-util.js";

const log = makeLog("nbd-bench");

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const MAKE_STICK = join(ROOT, "dist", "scripts", "make-stick.js");
const LAUNCHER = join(ROOT, "dist", "launcher", "stickvm.js");
const SECTION = "## stickvm serve (NBD)";
const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const IMAGE_BYTES = 8 * GiB;
const EXT4_BYTES = 1 * GiB;
/** Bump when the way the image or the stick is made changes, so cached ones are made again. */
const RECIPE = 1;
/** Where the build benchmark caches its 1 GiB ext4 image of real files; reused when present. */
const BUILD_BENCH_DIR = join(tmpdir(), "stickvm-build-bench");
const PASSPHRASE = "nbd-bench passphrase";
const LUKS_SECRET = "nbd-bench-luks-secret";
const QUEUE_DEPTH = 16;
const FSYNC_EVERY = 32;
const TARGETS = { seq: 0.8, randread: 0.7, randwrite: 1, rssMB: 250 } as const;
/** The measurements, in the order they run; `--only` picks some. */
const TESTS = ["seq", "randread", "randwrite-4k", "randwrite-64k"] as const;
type TestName = (typeof TESTS)[number];

interface Options {
  rounds: number;
  runtime: number;
  work: string;
  userSize: number;
  userSizeText: string;
  cpuProf: boolean;
  wait: boolean;
  /** The tests to run; all of them unless --only names some (then BENCHMARKS.md is left alone). */
  only: ReadonlySet<TestName> | undefined;
  out: string;
}

function readOptions(): Options {
  const { values } = parseArgs({
    options: {
      rounds: { type: "string", default: "3" },
      runtime: { type: "string", default: "10" },
      work: { type: "string", default: join(tmpdir(), "stickvm-nbd-bench") },
      "user-size": { type: "string", default: "8G" },
      "cpu-prof": { type: "boolean", default: false },
      "no-wait": { type: "boolean", default: false },
      only: { type: "string" },
      out: { type: "string", default: join(ROOT, "BENCHMARKS.md") },
      help: { type: "boolean", default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log(
      [
        "usage: node dist/scripts/bench/nbd-bench.js [options]",
        "  --rounds N        rounds of every comparison, in alternating order (default 3)",
        "  --runtime S       seconds of each fio run (default 10)",
        "  --work DIR        cache for the image, the stick and the qcow2 (default $TMPDIR/stickvm-nbd-bench)",
        "  --user-size SIZE  the stick's user disk (default 8G; its log preallocates about 1.25× that, sparse)",
        "  --cpu-prof        run stickvm serve under node --cpu-prof (profile in WORK/prof; slows it a little)",
        "  --no-wait         do not wait for a running build benchmark to finish",
        `  --only TESTS      run only these, comma-separated (${TESTS.join(", ")}); prints their numbers, writes nothing`,
        `  --out FILE        markdown file whose "${SECTION}" section is replaced (default BENCHMARKS.md)`,
      ].join("\n"),
    );
    process.exit(0);
  }
  const userSize = parseSize(values["user-size"], "--user-size");
  if (userSize < 64 * MiB) throw new Error("--user-size must be at least 64M");
  const rounds = Number(values.rounds);
  const runtime = Number(values.runtime);
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error("--rounds must be a whole number ≥ 1");
  if (!Number.isInteger(runtime) || runtime < 1) throw new Error("--runtime must be a whole number of seconds ≥ 1");
  let only: Set<TestName> | undefined;
  if (values.only !== undefined) {
    only = new Set();
    for (const name of values.only.split(",")) {
      const test = TESTS.find((t) => t === name.trim());
      if (test === undefined) throw new Error(`--only: unknown test ${JSON.stringify(name)} (${TESTS.join(", ")})`);
      only.add(test);
    }
  }
  return {
    rounds,
    runtime,
    work: values.work,
    userSize,
    userSizeText: values["user-size"],
    cpuProf: values["cpu-prof"],
    wait: !values["no-wait"],
    only,
    out: values.out,
  };
}

// ---------------------------------------------------------------- image and stick

interface ImageInfo {
  recipe: number;
  /** Where the 1 GiB ext4 came from. */
  source: string;
  seconds: number;
}

/** Copies regular files from `from` (sorted, depth first) into `to` until `budget` bytes are used. */
async function stageFiles(from: string, to: string, budget: { left: number }): Promise<void> {
  let names: string[];
  try {
    names = (await readdir(from)).sort();
  } catch {
    return;
  }
  for (const name of names) {
    if (budget.left <= 0) return;
    const src = join(from, name);
    const st = await stat(src).catch(() => undefined);
    if (st === undefined) continue;
    if (st.isDirectory()) {
      await mkdir(join(to, name), { recursive: true });
      await stageFiles(src, join(to, name), budget);
    } else if (st.isFile() && st.size <= budget.left) {
      await run(["cp", "--no-dereference", src, join(to, name)]).catch(() => undefined);
      budget.left -= Math.ceil(st.size / 4096) * 4096 + 4096;
    }
  }
}

/** The 1 GiB ext4 of real files: the build benchmark's cached one, else made here with mke2fs -d. */
async function makeExt4(path: string): Promise<string> {
  const cached = (await readdir(BUILD_BENCH_DIR).catch(() => [] as string[])).filter((n) => /^ext4-.*-1024M-fill[0-9.]+\.raw$/.test(n)).sort();
  const pick = cached.at(-1);
  if (pick !== undefined) {
    await run(["cp", "--sparse=always", join(BUILD_BENCH_DIR, pick), path]);
    return `the build benchmark's 1 GiB ext4 image (${pick}: real files from /usr/lib/x86_64-linux-gnu, /usr/bin, /usr/lib/jvm, /usr/share, /usr/lib, about 70% full)`;
  }
  const stageDir = await mkdtemp(join(tmpdir(), "nbd-bench-stage-"));
  try {
    await stageFiles("/usr/lib/x86_64-linux-gnu", stageDir, { left: 700 * MiB });
    await run(["mke2fs", "-q", "-F", "-t", "ext4", "-d", stageDir, path, "1048576k"]);
  } finally {
    await rm(stageDir, { recursive: true, force: true });
  }
  return "a 1 GiB ext4 image made here with `mke2fs -t ext4 -d` from up to 700 MiB of /usr/lib/x86_64-linux-gnu";
}

async function prepareImage(work: string): Promise<{ path: string; info: ImageInfo; cached: boolean }> {
  const path = join(work, "system-8G.raw");
  const meta = `${path}.json`;
  const old = await readFile(meta, "utf8").then((t) => JSON.parse(t) as ImageInfo, () => undefined);
  const st = await stat(path).catch(() => undefined);
  if (old?.recipe === RECIPE && st?.size === IMAGE_BYTES) return { path, info: old, cached: true };
  log("making the 8 GiB image");
  const t0 = Date.now();
  await rm(path, { force: true });
  const source = await makeExt4(path);
  await run(["truncate", "-s", String(IMAGE_BYTES), path]);
  const info: ImageInfo = { recipe: RECIPE, source, seconds: (Date.now() - t0) / 1000 };
  await writeFile(meta, JSON.stringify(info, null, 2));
  return { path, info, cached: false };
}

interface StickInfo {
  recipe: number;
  imageMtimeMs: number;
  userSize: number;
  seconds: number;
  report: string;
}

function buildCommand(image: string, stick: string, key: string, userSize: string): string[] {
  return ["node", MAKE_STICK, "build", "--image", image, "--out", stick, "--signing-key", key, "--kdf-memory", "8192", "--kdf-passes", "1", "--user-size", userSize, "--local-size", "1G"];
}

async function prepareStick(work: string, image: string, o: Options): Promise<{ path: string; info: StickInfo; cached: boolean }> {
  const path = join(work, "stick");
  const meta = join(work, "stick.json");
  const imageMtimeMs = (await stat(image)).mtimeMs;
  const old = await readFile(meta, "utf8").then((t) => JSON.parse(t) as StickInfo, () => undefined);
  if (old?.recipe === RECIPE && old.imageMtimeMs === imageMtimeMs && old.userSize === o.userSize && existsSync(join(path, "stick.hdr"))) {
    return { path, info: old, cached: true };
  }
  log("building the stick");
  await rm(path, { recursive: true, force: true });
  const keys = join(work, "keys");
  if (!existsSync(join(keys, "admin.key"))) await run(["node", MAKE_STICK, "keygen", "--out", keys]);
  const r = await run([...buildCommand(image, path, join(keys, "admin.key"), o.userSizeText), "--recovery-key-file", join(work, "recovery.txt")], {
    STICKVM_PASSPHRASE: PASSPHRASE,
  });
  const report = r.stdout.split("\n").find((l) => l.startsWith("image ")) ?? "";
  const info: StickInfo = { recipe: RECIPE, imageMtimeMs, userSize: o.userSize, seconds: r.seconds, report };
  await writeFile(meta, JSON.stringify(info, null, 2));
  return { path, info, cached: false };
}

function luksCreateCommand(qcow2: string, size: string): string[] {
  return [
    "qemu-img",
    "create",
    "-q",
    "-f",
    "qcow2",
    "--object",
    `secret,id=sec0,data=${LUKS_SECRET}`,
    "-o",
    "encrypt.format=luks,encrypt.key-secret=sec0,encrypt.iter-time=10",
    qcow2,
    size,
  ];
}

// ---------------------------------------------------------------- measurements

interface Contender {
  key: string;
  label: string;
  server: Server;
  uri: string;
}

interface Series {
  test: string;
  contender: Contender;
  /** One value per round (seconds for nbdcopy, IOPS for fio). */
  values: number[];
  /** The command of the first round, as shown. */
  command: string[];
}

/** Contenders in round r: as listed on even rounds, reversed on odd ones. */
function order<T>(xs: readonly T[], round: number): T[] {
  return round % 2 === 0 ? [...xs] : [...xs].reverse();
}

async function nbdcopy(uri: string): Promise<{ seconds: number; argv: string[] }> {
  const argv = ["nbdcopy", uri, "null:"];
  const r = await run(argv);
  return { seconds: r.seconds, argv };
}

interface FioJob {
  read?: { iops?: number };
  write?: { iops?: number };
}

async function fio(uri: string, args: readonly string[], runtime: number, seed: number, outFile: string): Promise<{ iops: number; argv: string[] }> {
  const argv = [
    "fio",
    "--name=bench",
    "--ioengine=nbd",
    `--uri=${uri}`,
    ...args,
    `--iodepth=${String(QUEUE_DEPTH)}`,
    `--runtime=${String(runtime)}`,
    "--time_based",
    `--randseed=${String(seed)}`,
    "--output-format=json",
    `--output=${outFile}`,
  ];
  await run(argv);
  const parsed = JSON.parse(await readFile(outFile, "utf8")) as { jobs?: FioJob[] };
  const job = parsed.jobs?.[0];
  const iops = (job?.read?.iops ?? 0) + (job?.write?.iops ?? 0);
  if (!(iops > 0)) throw new Error(`fio reported no I/O: ${argv.join(" ")}`);
  return { iops, argv };
}

interface MemorySample {
  after: string;
  hwmKiB: number;
  rssKiB: number;
}

// ---------------------------------------------------------------- report

interface Report {
  o: Options;
  m: Machine;
  startedAt: Date;
  benchSeconds: number;
  waitedSeconds: number;
  image: { info: ImageInfo; cached: boolean };
  stick: { info: StickInfo; cached: boolean };
  userLogSeconds: number;
  dataBytes: number;
  warmup: { key: string; label: string; seconds: number }[];
  series: Series[];
  memory: MemorySample[];
  baselineMemory: { label: string; hwmKiB: number }[];
  servers: Server[];
  work: string;
}

function shown(work: string, argv: readonly string[]): string {
  return argv
    .map((a, i) => (i === 0 && a === process.execPath ? "node" : a.replaceAll(`${work}/`, "").replaceAll(work, ".").replaceAll(ROOT, "")))
    .map((a) => (/[\s;&|'"]/.test(a) ? `'${a}'` : a))
    .join(" ");
}

function pass(ok: boolean): string {
  return ok ? "**PASS**" : "**FAIL**";
}

function fmt(n: number, digits = 0): string {
  return n.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function find(r: Report, test: string, key: string): Series {
  const s = r.series.find((x) => x.test === test && x.contender.key === key);
  if (s === undefined) throw new Error(`no ${test}/${key} series`);
  return s;
}

function section(r: Report): string {
  const { o, m } = r;
  const seqStick = median(find(r, "seq", "stickvm").values);
  const seqQemu = median(find(r, "seq", "qemu-raw").values);
  const seqNbdkit = median(find(r, "seq", "nbdkit-raw").values);
  const mbps = (s: number): string => fmt(r.dataBytes / s / MiB);
  const ratio = (a: number, b: number): number => a / b;
  const seqRatio = ratio(seqQemu, seqStick);
  const iops = (test: string, key: string): number => median(find(r, test, key).values);
  const rrRatio = ratio(iops("randread", "stickvm"), iops("randread", "qemu-raw"));
  const w4Ratio = ratio(iops("randwrite-4k", "stickvm"), iops("randwrite-4k", "qemu-luks"));
  const w64Ratio = ratio(iops("randwrite-64k", "stickvm"), iops("randwrite-64k", "qemu-luks"));
  const peak = Math.max(...r.memory.map((x) => x.hwmKiB));
  const peakMB = (peak * 1024) / 1e6;
  const runs = (s: Series, digits: number): string => s.values.map((v) => fmt(v, digits)).join(", ");
  const seqRow = (key: string, label: string): string => {
    const s = find(r, "seq", key);
    const med = median(s.values);
    return `| ${label} | ${runs(s, 2)} | ${fmt(med, 2)} | ${mbps(med)} | ${key === "qemu-raw" ? "1.00×" : `${(seqQemu / med).toFixed(2)}×`} |`;
  };
  const iopsRow = (test: string, key: string, label: string, base: string): string => {
    const s = find(r, test, key);
    const med = median(s.values);
    const bs = test === "randwrite-64k" ? 64 * 1024 : 4096;
    return `| ${label} | ${runs(s, 0)} | ${fmt(med)} | ${fmt((med * bs) / MiB, 1)} | ${key === base ? "1.00×" : `${(med / iops(test, base)).toFixed(2)}×`} |`;
  };
  const cmd = (test: string, key: string): string => `\`${shown(r.work, find(r, test, key).command)}\``;
  const firstPass = (key: string): number => r.warmup.find((w) => w.key === key)?.seconds ?? NaN;
  const firstPassRatio = firstPass("qemu-raw") / firstPass("stickvm");
  const imageNote = r.image.cached ? `cached from an earlier run (making it took ${fmt(r.image.info.seconds)} s)` : `made in ${fmt(r.image.info.seconds)} s`;
  const stickNote = r.stick.cached ? `cached from an earlier run (building it took ${fmt(r.stick.info.seconds)} s)` : `built in ${fmt(r.stick.info.seconds)} s`;
  const out: string[] = [
    SECTION,
    "",
    `_Written by scripts/bench/nbd-bench.ts (\`npm run bench\`) on ${r.startedAt.toISOString().slice(0, 16).replace("T", " ")} UTC; the run took ${fmt(r.benchSeconds)} s${r.waitedSeconds >= 1 ? `, ${fmt(r.waitedSeconds)} s of it waiting for another benchmark to finish` : ""}. ${String(o.rounds)} rounds; in each round every comparison runs its contenders in turn, in the listed order on odd rounds and reversed on even ones; medians of the rounds._`,
    "",
    "Issue 3 targets: sequential read of `system` at least 0.8× `qemu-nbd`; 4 KiB random reads (queue depth 16) at least 0.7× `qemu-nbd` raw; 4 KiB and 64 KiB random writes with periodic flushes on `user` (encrypted, durable) at least 1× `qemu-nbd` serving a qcow2 with LUKS encryption; peak RSS of the server while serving an 8 GiB image under that load under 250 MB.",
    "",
    "### Verdict",
    "",
    "| target | measured | verdict |",
    "|---|---:|---|",
    `| nbdcopy sequential read of \`system\` ≥ ${String(TARGETS.seq)}× qemu-nbd raw | ${seqRatio.toFixed(2)}× | ${pass(seqRatio >= TARGETS.seq)} |`,
    `| fio 4 KiB random read, QD${String(QUEUE_DEPTH)}, \`system\` ≥ ${String(TARGETS.randread)}× qemu-nbd raw | ${rrRatio.toFixed(2)}× | ${pass(rrRatio >= TARGETS.randread)} |`,
    `| fio 4 KiB random write + flush every ${String(FSYNC_EVERY)}, \`user\` ≥ ${String(TARGETS.randwrite)}× qemu-nbd qcow2+LUKS | ${w4Ratio.toFixed(2)}× | ${pass(w4Ratio >= TARGETS.randwrite)} |`,
    `| fio 64 KiB random write + flush every ${String(FSYNC_EVERY)}, \`user\` ≥ ${String(TARGETS.randwrite)}× qemu-nbd qcow2+LUKS | ${w64Ratio.toFixed(2)}× | ${pass(w64Ratio >= TARGETS.randwrite)} |`,
    `| peak RSS of \`stickvm serve\` (VmHWM) < ${String(TARGETS.rssMB)} MB | ${fmt(peakMB)} MB (${fmt(peak / 1024)} MiB) | ${pass(peakMB < TARGETS.rssMB)} |`,
    `| first nbdcopy pass of \`system\` (every chunk decoded; the issue sets no target) | ${firstPassRatio.toFixed(2)}× qemu-nbd raw | — |`,
    "",
    "### Sequential read: `nbdcopy URI null:` of the whole 8 GiB export",
    "",
    `nbdcopy skips what block status reports as zero, so the time is spent on the ${fmt(r.dataBytes / MiB)} MiB of data (the ext4 image's used blocks); MiB/s is that divided by the median time. One untimed first pass of each contender before the rounds (it warms the page cache). stickvm's first pass reads every chunk from the pack, opens and inflates it on worker threads, and stores the plaintext, encrypted under a key only in RAM, in the session's unpacked file on the host disk; the rounds read that file back (one file read and one AES-CTR pass per request, no inflating). First-pass times: ${r.warmup.map((w) => `${w.label} ${fmt(w.seconds, 2)} s`).join(", ")}.`,
    "",
    "| server | seconds per round | median s | data MiB/s | vs qemu-nbd |",
    "|---|---|---:|---:|---:|",
    seqRow("stickvm", "stickvm serve, `system`"),
    seqRow("qemu-raw", "qemu-nbd raw"),
    seqRow("nbdkit-raw", "nbdkit file raw"),
    "",
    `nbdkit file reads at ${(seqQemu / seqNbdkit).toFixed(2)}× qemu-nbd here.`,
    "",
    `### Random read: fio 4 KiB, QD${String(QUEUE_DEPTH)}, ${String(o.runtime)} s, over the first 1 GiB (the ext4 part; the rest is zeros)`,
    "",
    "| server | IOPS per round | median IOPS | MiB/s | vs qemu-nbd |",
    "|---|---|---:|---:|---:|",
    iopsRow("randread", "stickvm", "stickvm serve, `system`", "qemu-raw"),
    iopsRow("randread", "qemu-raw", "qemu-nbd raw", "qemu-raw"),
    iopsRow("randread", "nbdkit-raw", "nbdkit file raw", "qemu-raw"),
    "",
    `### Random write with a flush every ${String(FSYNC_EVERY)} writes: fio, QD${String(QUEUE_DEPTH)}, ${String(o.runtime)} s, over the whole ${fmt(o.userSize / GiB)} GiB disk`,
    "",
    "stickvm's `user` is the encrypted log on the stick folder (AES-256-GCM records; a flush syncs the data, then commits); the baseline is `qemu-nbd` (default writeback cache: an NBD flush is an fdatasync) serving a fresh qcow2 with LUKS encryption (aes-256-xts) of the same size, on the same file system. Both start empty at the start of the run; each round uses a new fio random seed, the same for both.",
    "",
    "| block size | server | IOPS per round | median IOPS | MiB/s | vs qemu-nbd |",
    "|---|---|---|---:|---:|---:|",
    `| 4 KiB |${iopsRow("randwrite-4k", "stickvm", "stickvm serve, `user`", "qemu-luks").slice(1)}`,
    `| 4 KiB |${iopsRow("randwrite-4k", "qemu-luks", "qemu-nbd qcow2+LUKS", "qemu-luks").slice(1)}`,
    `| 64 KiB |${iopsRow("randwrite-64k", "stickvm", "stickvm serve, `user`", "qemu-luks").slice(1)}`,
    `| 64 KiB |${iopsRow("randwrite-64k", "qemu-luks", "qemu-nbd qcow2+LUKS", "qemu-luks").slice(1)}`,
    "",
    "### Memory",
    "",
    `\`stickvm serve\` (one Node process) serving the 8 GiB \`system\`, the ${fmt(o.userSize / GiB)} GiB \`user\` and the 1 GiB \`local\`, read from \`/proc/PID/status\` after each phase (VmHWM is the peak so far):`,
    "",
    "| after | VmHWM MiB | VmRSS MiB |",
    "|---|---:|---:|",
    ...r.memory.map((x) => `| ${x.after} | ${fmt(x.hwmKiB / 1024)} | ${fmt(x.rssKiB / 1024)} |`),
    "",
    `For comparison, the baselines' peaks at the end: ${r.baselineMemory.map((b) => `${b.label} ${fmt(b.hwmKiB / 1024)} MiB`).join(", ")}.`,
    "",
    "### Setup and commands",
    "",
    `- Image: \`system-8G.raw\`, 8 GiB: ${r.image.info.source}, at offset 0, zeros after it (sparse); ${imageNote}.`,
    `- Stick: \`${shown(r.work, buildCommand("system-8G.raw", "stick", "keys/admin.key", o.userSizeText))}\` (STICKVM_PASSPHRASE set; 64 KiB chunks, compression level 3); ${stickNote}; make-stick reported: ${r.stick.info.report}.`,
    `- The user log is removed before the run, so \`serve\` makes it afresh (preallocated, sparse segment files: ${fmt(r.userLogSeconds, 1)} s from start to "ready", unlocking included).`,
    ...r.servers.map((s) => `- ${s.key}: \`${shown(r.work, s.argv)}\``),
    `- qcow2 + LUKS image, made fresh each run: \`${shown(r.work, luksCreateCommand("user-luks.qcow2", o.userSizeText))}\` (a low iter-time only makes opening it fast).`,
    `- Sequential: ${cmd("seq", "stickvm")} (and the same with each baseline's URI).`,
    `- Random read: ${cmd("randread", "stickvm")}.`,
    `- Random write: ${cmd("randwrite-4k", "stickvm")}; ${cmd("randwrite-64k", "stickvm")}. fio's nbd engine sends an NBD flush for each fsync.`,
    "- Each round adds 1 to fio's `--randseed` (the commands above are round 1's), the same seed for every contender of that round.",
    "- Client and servers share the machine's cores; the servers are started once and stay up (idle) while the others are measured.",
    "",
    "### Machine",
    "",
    `- CPU: ${m.cpu}, ${String(m.cores)} cores; RAM ${m.ram}`,
    `- OS: ${m.os}; kernel ${m.kernel}`,
    `- Node ${m.node}; ${m.qemuNbd}; ${m.nbdkit}; ${m.nbdcopy}; ${m.fio}`,
    `- stickvm commit ${m.commit}`,
    "",
  ];
  return out.join("\n").replace(/\n{3,}/g, "\n\n");
}

/** What an `--only` run prints: each series' rounds and median against its baseline, and the memory samples. */
function summary(r: Report): string {
  const lines: string[] = [];
  for (const s of r.series) {
    const base = r.series.find((b) => b.test === s.test && b.contender.key === (s.test.startsWith("randwrite") ? "qemu-luks" : "qemu-raw"));
    const med = median(s.values);
    const baseMed = base === undefined ? Number.NaN : median(base.values);
    // seconds for nbdcopy (less is better), IOPS for fio
    const ratio = s.test === "seq" ? baseMed / med : med / baseMed;
    lines.push(`${s.test}\t${s.contender.label}\t${s.values.map((v) => fmt(v, s.test === "seq" ? 2 : 0)).join(", ")}\tmedian ${fmt(med, s.test === "seq" ? 2 : 0)}\t${ratio.toFixed(2)}×`);
  }
  for (const m of r.memory) lines.push(`memory after ${m.after}\tVmHWM ${fmt(m.hwmKiB / 1024)} MiB\tVmRSS ${fmt(m.rssKiB / 1024)} MiB`);
  return lines.join("\n");
}

// ---------------------------------------------------------------- main

async function waitForOtherBenchmarks(): Promise<number> {
  const t0 = Date.now();
  let said = false;
  for (;;) {
    const others = await otherProcesses("build-bench");
    if (others.length === 0) return (Date.now() - t0) / 1000;
    if (!said) log(`waiting for the build benchmark to finish (pids ${others.join(", ")})`);
    said = true;
    if (Date.now() - t0 > 30 * 60_000) throw new Error("the build benchmark is still running after 30 minutes");
    await sleep(5000);
  }
}

async function main(): Promise<void> {
  const o = readOptions();
  for (const tool of ["qemu-nbd", "qemu-img", "nbdkit", "nbdcopy", "nbdinfo", "fio", "mke2fs"]) {
    if (capture("sh", ["-c", `command -v ${tool}`]) === "unknown") throw new Error(`${tool} is not installed (Debian: qemu-utils nbdkit libnbd-bin fio e2fsprogs)`);
  }
  const waitedSeconds = o.wait ? await waitForOtherBenchmarks() : 0;
  const startedAt = new Date();
  const t0 = Date.now();
  await mkdir(o.work, { recursive: true });
  const m = await machine(ROOT);
  const image = await prepareImage(o.work);
  const stick = await prepareStick(o.work, image.path, o);

  // Fresh writable disks for this run: the stick's user log and the qcow2.
  await rm(join(stick.path, "user"), { recursive: true, force: true });
  const qcow2 = join(o.work, "user-luks.qcow2");
  await rm(qcow2, { force: true });
  await run(luksCreateCommand(qcow2, o.userSizeText));
  const sock = (name: string): string => join(o.work, `${name}.sock`);
  for (const name of ["stickvm", "qemu-raw", "nbdkit-raw", "qemu-luks"]) await rm(sock(name), { force: true });
  const outFile = join(o.work, "fio.json");
  const profDir = join(o.work, "prof");
  if (o.cpuProf) await mkdir(profDir, { recursive: true });

  const servers: Server[] = [];
  const stopAll = async (): Promise<void> => {
    for (const s of servers.reverse()) await s.stop().catch(() => undefined);
  };
  try {
    log("starting the servers");
    const ts = Date.now();
    const stickvm = await startStickvm({
      node: process.execPath,
      nodeFlags: o.cpuProf ? ["--cpu-prof", `--cpu-prof-dir=${profDir}`] : [],
      launcher: LAUNCHER,
      stick: stick.path,
      socket: sock("stickvm"),
      passphrase: PASSPHRASE,
    });
    const userLogSeconds = (Date.now() - ts) / 1000;
    servers.push(stickvm);
    const qemuRaw = await startSocketServer(
      "qemu-nbd raw",
      ["qemu-nbd", "-f", "raw", `--socket=${sock("qemu-raw")}`, "--persistent", "--shared=4", "--read-only", image.path],
      sock("qemu-raw"),
      "",
    );
    servers.push(qemuRaw);
    const nbdkitRaw = await startSocketServer("nbdkit file raw", ["nbdkit", "-f", "-r", "-U", sock("nbdkit-raw"), "file", image.path], sock("nbdkit-raw"), "");
    servers.push(nbdkitRaw);
    const qemuLuks = await startSocketServer(
      "qemu-nbd qcow2+LUKS",
      [
        "qemu-nbd",
        "--object",
        `secret,id=sec0,data=${LUKS_SECRET}`,
        "--image-opts",
        `driver=qcow2,file.filename=${qcow2},encrypt.key-secret=sec0`,
        `--socket=${sock("qemu-luks")}`,
        "--persistent",
        "--shared=4",
      ],
      sock("qemu-luks"),
      "",
    );
    servers.push(qemuLuks);

    const uri = (s: Server, name: string): string => {
      const u = s.uris.get(name);
      if (u === undefined) throw new Error(`${s.key} serves no export "${name}"`);
      return u;
    };
    const contender = (key: string, label: string, s: Server, name: string): Contender => ({ key, label, server: s, uri: uri(s, name) });
    const stickSystem = contender("stickvm", "stickvm system", stickvm, "system");
    const stickUser = contender("stickvm", "stickvm user", stickvm, "user");
    const raw = contender("qemu-raw", "qemu-nbd raw", qemuRaw, "");
    const nbdkit = contender("nbdkit-raw", "nbdkit file raw", nbdkitRaw, "");
    const luks = contender("qemu-luks", "qemu-nbd qcow2+LUKS", qemuLuks, "");

    const sizes = await Promise.all([stickSystem, raw].map((c) => run(["nbdinfo", "--size", c.uri]).then((r) => Number(r.stdout.trim()))));
    if (sizes[0] !== IMAGE_BYTES || sizes[1] !== IMAGE_BYTES) throw new Error(`export sizes differ from the image: ${sizes.join(", ")}`);
    const totals = await run(["nbdinfo", "--map", "--totals", stickSystem.uri]);
    const dataBytes = Number(/^\s*(\d+)\s+\S+\s+0\s+data$/m.exec(totals.stdout)?.[1] ?? Number.NaN);

    const memory: MemorySample[] = [];
    const sample = async (after: string): Promise<void> => {
      const mem = await processMemory(stickvm.pid);
      if (mem === undefined) throw new Error(`stickvm serve is gone:\n${stickvm.stderr().slice(-4000)}`);
      memory.push({ after, ...mem });
      log(`stickvm serve after ${after}: VmHWM ${fmt(mem.hwmKiB / 1024)} MiB, VmRSS ${fmt(mem.rssKiB / 1024)} MiB`);
    };
    await sample("start");

    const series: Series[] = [];
    const measure = async (test: string, cs: readonly Contender[], one: (c: Contender, round: number) => Promise<{ value: number; argv: string[] }>): Promise<void> => {
      const rows = cs.map((c): Series => ({ test, contender: c, values: [], command: [] }));
      for (let round = 0; round < o.rounds; round++) {
        for (const row of order(rows, round)) {
          const r = await one(row.contender, round);
          row.values.push(r.value);
          if (row.command.length === 0) row.command = r.argv;
          log(`${test} round ${String(round + 1)} ${row.contender.label}: ${fmt(r.value, test === "seq" ? 2 : 0)}`);
        }
      }
      series.push(...rows);
    };

    const runs = (test: TestName): boolean => o.only === undefined || o.only.has(test);
    // 1. Sequential read, after one warm-up pass of each (random reads need it too: chunks in the page cache).
    const warmup: { key: string; label: string; seconds: number }[] = [];
    if (runs("seq") || runs("randread")) {
      for (const c of [stickSystem, raw, nbdkit]) {
        const r = await nbdcopy(c.uri);
        warmup.push({ key: c.key, label: c.label, seconds: r.seconds });
        log(`warm-up ${c.label}: ${fmt(r.seconds, 2)} s`);
      }
      await sample("nbdcopy warm-up");
    }
    if (runs("seq")) {
      await measure("seq", [stickSystem, raw, nbdkit], async (c) => {
        const r = await nbdcopy(c.uri);
        return { value: r.seconds, argv: r.argv };
      });
      await sample("sequential reads");
    }

    // 2. Random 4 KiB reads over the ext4 part.
    if (runs("randread")) {
      await measure("randread", [stickSystem, raw, nbdkit], async (c, round) => {
        const r = await fio(c.uri, ["--rw=randread", "--bs=4k", `--size=${String(EXT4_BYTES / GiB)}g`], o.runtime, 1000 + round, outFile);
        return { value: r.iops, argv: r.argv };
      });
      await sample("random reads");
    }

    // 3. Random writes with a flush every FSYNC_EVERY writes, over the whole disk.
    for (const bs of ["4k", "64k"] as const) {
      if (!runs(`randwrite-${bs}`)) continue;
      await measure(`randwrite-${bs}`, [stickUser, luks], async (c, round) => {
        const r = await fio(c.uri, ["--rw=randwrite", `--bs=${bs}`, `--fsync=${String(FSYNC_EVERY)}`], o.runtime, 2000 + round, outFile);
        return { value: r.iops, argv: r.argv };
      });
      await sample(`${bs === "4k" ? "4 KiB" : "64 KiB"} random writes`);
    }

    const baselineMemory: { label: string; hwmKiB: number }[] = [];
    for (const s of [qemuRaw, nbdkitRaw, qemuLuks]) {
      const mem = await processMemory(s.pid);
      if (mem !== undefined) baselineMemory.push({ label: s.key, hwmKiB: mem.hwmKiB });
    }
    log("stopping the servers");
    await stopAll();
    await rm(outFile, { force: true });
    await rm(qcow2, { force: true });
    // the user log now holds what fio wrote (gigabytes); the next run makes it afresh anyway
    await rm(join(stick.path, "user"), { recursive: true, force: true });
    for (const name of ["stickvm", "qemu-raw", "nbdkit-raw", "qemu-luks"]) await rm(sock(name), { force: true });

    const report: Report = {
      o,
      m,
      startedAt,
      benchSeconds: (Date.now() - t0) / 1000,
      waitedSeconds,
      image,
      stick,
      userLogSeconds,
      dataBytes,
      warmup,
      series,
      memory,
      baselineMemory,
      servers: [stickvm, qemuRaw, nbdkitRaw, qemuLuks],
      work: o.work,
    };
    if (o.only !== undefined) {
      process.stdout.write(`${summary(report)}\n`);
      return;
    }
    const text = section(report);
    await writeSection(o.out, SECTION, text);
    process.stdout.write(`${text}\n`);
    log(`wrote the "${SECTION}" section of ${o.out} (${fmt(report.benchSeconds)} s)`);
  } finally {
    await stopAll();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`nbd-bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
