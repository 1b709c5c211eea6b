#!/usr/bin/env node
// Build benchmark: `make-stick build` against `qemu-img convert -O qcow2 -c` and `cp`, side by
// side on one ext4 image of real files. Writes the "## make-stick build" section of BENCHMARKS.md.
//
//   npm run bench -- [--size 1G] [--fill 0.7] [--rounds 3] [--work DIR] [--cache cold|warm]
//                    [--threads N] [--explore] [--dense] [--out FILE]
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { copyFile, lstat, mkdir, readdir, readFile, readlink, rm, symlink, writeFile } from "node:fs/promises";
import { availableParallelism, cpus, tmpdir, totalmem } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { parseSize } from "../../src/util/parse-size.js";
import { formatCell, type Contender, type RunResult, median, runContender, treeSize } from "./bench-run.js";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const MAKE_STICK = join(ROOT, "dist", "scripts", "make-stick.js");
const SECTION = "## make-stick build";
const MiB = 1024 * 1024;
const TARGET_SPEEDUP = 1.5;
/**
 * Where real files are copied from, in this order, each up to its share of the bytes to fill
 * (what a root leaves unused passes on to the next), so the image holds a mix like an OS disk:
 * shared libraries, executables, a JDK, data and docs.
 */
const SOURCE_ROOTS: readonly (readonly [string, number])[] = [
  ["/usr/lib/x86_64-linux-gnu", 0.4],
  ["/usr/bin", 0.15],
  ["/usr/lib/jvm", 0.15],
  ["/usr/share", 0.15],
  ["/usr/lib", 1],
  ["/usr/sbin", 1],
  ["/usr/libexec", 1],
  ["/usr/include", 1],
  ["/opt", 1],
];
/** Bump when the way the image is made changes, so cached images are made again. */
const IMAGE_RECIPE = 2;
/** Fixed so that the same size and fill give the same image on the same machine. */
const FS_UUID = "5717c4a0-0000-4000-8000-000000000b0b";

interface Options {
  size: number;
  sizeText: string;
  fill: number;
  rounds: number;
  work: string;
  cache: "cold" | "warm";
  threads: number;
  explore: boolean;
  /** Extra compression levels measured when level 1 misses the size target (always with --explore). */
  levels: number[];
  dense: boolean;
  out: string;
}

function readOptions(): Options {
  const { values } = parseArgs({
    options: {
      size: { type: "string", default: "1G" },
      fill: { type: "string", default: "0.7" },
      rounds: { type: "string", default: "3" },
      work: { type: "string", default: join(tmpdir(), "stickvm-build-bench") },
      cache: { type: "string", default: "cold" },
      threads: { type: "string", default: String(availableParallelism()) },
      explore: { type: "boolean", default: false },
      levels: { type: "string", default: "6" },
      dense: { type: "boolean", default: false },
      out: { type: "string", default: join(ROOT, "BENCHMARKS.md") },
      help: { type: "boolean", default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log(
      [
        "usage: node dist/scripts/bench/build-bench.js [options]",
        "  --size SIZE       image size (default 1G)",
        "  --fill F          fraction of the image to fill with real files (default 0.7)",
        "  --rounds N        runs of each tool, in rotating order (default 3)",
        "  --work DIR        cache for the image and outputs (default $TMPDIR/stickvm-build-bench)",
        "  --cache MODE      cold: drop the page cache before each run (default); warm: pre-read the image",
        "  --threads N       make-stick worker threads (default: all cores)",
        "  --levels L,...    extra make-stick compression levels, measured when level 1 makes a stick larger",
        "                    than the qcow2 (default 6)",
        "  --explore         measure the extra levels anyway, and make-stick with --threads 1",
        "  --dense           write the image without holes (default: as mke2fs leaves it, sparse)",
        "  --out FILE        markdown file whose \"## make-stick build\" section is replaced (default BENCHMARKS.md)",
      ].join("\n"),
    );
    process.exit(0);
  }
  const size = parseSize(values.size, "--size");
  const fill = Number(values.fill);
  const rounds = Number(values.rounds);
  const threads = Number(values.threads);
  if (size < 64 * MiB) throw new Error("--size must be at least 64M");
  if (!(fill > 0 && fill <= 0.9)) throw new Error("--fill must be in (0, 0.9]");
  if (!Number.isInteger(rounds) || rounds < 1) throw new Error("--rounds must be a whole number ≥ 1");
  if (!Number.isInteger(threads) || threads < 1) throw new Error("--threads must be a whole number ≥ 1");
  const levels = values.levels.split(",").filter((x) => x.trim().length > 0).map(Number);
  if (!levels.every((l) => Number.isInteger(l) && l >= 1 && l <= 9)) throw new Error("--levels must list zlib levels 1..9");
  if (values.cache !== "cold" && values.cache !== "warm") throw new Error("--cache must be cold or warm");
  return {
    size,
    sizeText: values.size,
    fill,
    rounds,
    work: values.work,
    cache: values.cache,
    threads,
    explore: values.explore,
    levels,
    dense: values.dense,
    out: values.out,
  };
}

function log(text: string): void {
  process.stderr.write(`[build-bench] ${text}\n`);
}

/** stdout, else stderr, of a short command ("unknown" if it cannot run). */
function capture(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
  if (r.error !== undefined) return "unknown";
  const out = r.stdout.trim();
  const text = out.length > 0 ? out : r.stderr.trim();
  return text.length > 0 ? text : "unknown";
}

function firstLine(text: string): string {
  return text.split("\n")[0]?.trim() ?? "";
}

// ---------------------------------------------------------------- input image

interface ImageInfo {
  path: string;
  size: number;
  files: number;
  dirs: number;
  symlinks: number;
  fileBytes: number;
  usedBytes: number;
  blockSize: number;
  allocatedBytes: number;
  sources: string[];
  seconds: number;
  dense: boolean;
  command: string;
}

interface Stager {
  /** Bytes (in 4 KiB blocks, plus one block per file) that may be copied so far. */
  budget: number;
  inodeBudget: number;
  bytes: number;
  files: number;
  dirs: number;
  symlinks: number;
  seen: Set<string>;
}

const BLOCK = 4096;
const roundUp = (n: number): number => Math.ceil(n / BLOCK) * BLOCK;

/** Copies real files from `from` into `to`, depth first in sorted order, until the byte or inode budget is used. */
async function stage(from: string, to: string, s: Stager): Promise<void> {
  if (s.seen.has(from)) return;
  s.seen.add(from);
  let names: string[];
  try {
    names = (await readdir(from)).sort();
  } catch {
    return;
  }
  await mkdir(to, { recursive: true });
  s.dirs += 1;
  for (const name of names) {
    if (s.budget - s.bytes < 4 * MiB || s.files + s.dirs + s.symlinks >= s.inodeBudget) return;
    const src = join(from, name);
    const dst = join(to, name);
    let st;
    try {
      st = await lstat(src);
    } catch {
      continue;
    }
    if (st.isDirectory()) {
      await stage(src, dst, s);
    } else if (st.isSymbolicLink()) {
      try {
        await symlink(await readlink(src), dst);
        s.symlinks += 1;
      } catch {
        // unreadable link: skip it
      }
    } else if (st.isFile()) {
      const cost = roundUp(st.size) + BLOCK;
      if (s.bytes + cost > s.budget) continue;
      try {
        await copyFile(src, dst);
      } catch {
        continue;
      }
      s.bytes += cost;
      s.files += 1;
    }
  }
}

function dumpe2fsField(text: string, field: string): number {
  const m = new RegExp(`^${field}:\\s+(\\d+)`, "m").exec(text);
  if (m?.[1] === undefined) throw new Error(`dumpe2fs printed no "${field}"`);
  return Number(m[1]);
}

function imageTag(o: Options): string {
  return `ext4-r${IMAGE_RECIPE}-${String(o.size / MiB)}M-fill${o.fill}${o.dense ? "-dense" : ""}`;
}

async function makeImage(o: Options): Promise<ImageInfo> {
  const tag = imageTag(o);
  const path = join(o.work, `${tag}.raw`);
  const metaPath = `${path}.json`;
  if (existsSync(path) && existsSync(metaPath)) {
    const meta = JSON.parse(await readFile(metaPath, "utf8")) as ImageInfo;
    if (meta.size === o.size) {
      log(`using the cached image ${path}`);
      return meta;
    }
  }
  const t0 = process.hrtime.bigint();
  const staging = join(o.work, `${tag}.src`);
  await rm(staging, { recursive: true, force: true });
  await rm(path, { force: true });
  await mkdir(staging, { recursive: true });
  const total = Math.floor(o.size * o.fill);
  const s: Stager = {
    budget: 0,
    // mke2fs's default for images of 512 MiB and more: one inode per 16 KiB; keep a margin.
    inodeBudget: Math.floor((o.size / 16384) * 0.8),
    bytes: 0,
    files: 0,
    dirs: 0,
    symlinks: 0,
    seen: new Set(),
  };
  const sources: string[] = [];
  for (const [src, share] of SOURCE_ROOTS) {
    if (total - s.bytes < 4 * MiB) break;
    if (!existsSync(src)) continue;
    const before = s.bytes;
    s.budget = Math.min(total, s.bytes + Math.floor(total * share));
    log(`copying real files from ${src} (${(s.bytes / MiB).toFixed(0)} of ${(total / MiB).toFixed(0)} MiB so far)`);
    await stage(src, join(staging, src.replace(/^\//, "").replaceAll("/", "_")), s);
    if (s.bytes > before) sources.push(src);
  }
  if (s.bytes < total * 0.5) log(`warning: found only ${(s.bytes / MiB).toFixed(0)} MiB of files to copy`);
  const mkfs = ["-q", "-F", "-t", "ext4", "-L", "stickbench", "-U", FS_UUID, "-E", `hash_seed=${FS_UUID}`, "-d", staging, path, String(o.size / 1024) + "k"];
  log(`mke2fs ${mkfs.join(" ")}`);
  execFileSync("mke2fs", mkfs, { stdio: ["ignore", "inherit", "inherit"], env: { ...process.env, E2FSPROGS_FAKE_TIME: "1700000000" } });
  if (o.dense) {
    const tmp = `${path}.dense`;
    execFileSync("cp", ["--sparse=never", path, tmp]);
    execFileSync("mv", ["-f", tmp, path]);
  }
  await rm(staging, { recursive: true, force: true });
  execFileSync("sync");
  const d = capture("dumpe2fs", ["-h", path]);
  const blockSize = dumpe2fsField(d, "Block size");
  const usedBytes = (dumpe2fsField(d, "Block count") - dumpe2fsField(d, "Free blocks")) * blockSize;
  const info: ImageInfo = {
    path,
    size: o.size,
    files: s.files,
    dirs: s.dirs,
    symlinks: s.symlinks,
    fileBytes: s.bytes,
    usedBytes,
    blockSize,
    allocatedBytes: (await treeSize(path)).allocated,
    sources,
    seconds: Number(process.hrtime.bigint() - t0) / 1e9,
    dense: o.dense,
    command: `mke2fs ${mkfs.join(" ").replace(staging, "SRC_DIR").replace(path, "image.raw")}${o.dense ? "; cp --sparse=never (no holes)" : ""}`,
  };
  await writeFile(metaPath, JSON.stringify(info, null, 2));
  return info;
}

// ---------------------------------------------------------------- page cache

async function dropCaches(): Promise<boolean> {
  execFileSync("sync");
  try {
    await writeFile("/proc/sys/vm/drop_caches", "3\n");
    return true;
  } catch {
    return false;
  }
}

function warmImage(path: string): void {
  execFileSync("cat", [path], { stdio: ["ignore", "ignore", "inherit"] });
}

// ---------------------------------------------------------------- machine

interface Machine {
  cpu: string;
  cores: number;
  ram: string;
  os: string;
  kernel: string;
  node: string;
  qemuImg: string;
  mke2fs: string;
  time: string;
  workFs: string;
  commit: string;
}

async function machine(work: string): Promise<Machine> {
  const cpuinfo = await readFile("/proc/cpuinfo", "utf8").catch(() => "");
  const model = /^model name\s*:\s*(.+)$/m.exec(cpuinfo)?.[1] ?? cpus()[0]?.model ?? "unknown";
  const osRelease = await readFile("/etc/os-release", "utf8").catch(() => "");
  const status = capture("git", ["-C", ROOT, "status", "--porcelain", "--untracked-files=no"]);
  return {
    cpu: model.trim(),
    cores: availableParallelism(),
    ram: `${(totalmem() / 1024 ** 3).toFixed(1)} GiB`,
    os: /^PRETTY_NAME="?([^"\n]+)"?$/m.exec(osRelease)?.[1] ?? "unknown",
    kernel: capture("uname", ["-srvm"]),
    node: process.version,
    qemuImg: firstLine(capture("qemu-img", ["--version"])),
    mke2fs: firstLine(capture("mke2fs", ["-V"])),
    time: existsSync("/usr/bin/time") ? firstLine(capture("/usr/bin/time", ["--version"])) : "not installed",
    workFs: capture("df", ["--output=source,fstype,target", work]).split("\n").slice(1).join(" ").replace(/\s+/g, " "),
    commit: `${capture("git", ["-C", ROOT, "rev-parse", "--short", "HEAD"])}${status.length > 0 && status !== "unknown" ? " + uncommitted changes" : ""}`,
  };
}

// ---------------------------------------------------------------- contenders

interface Paths {
  image: string;
  keyFile: string;
  outDir: string;
}

/** The command as shown in BENCHMARKS.md: paths relative to the work folder. */
function shown(p: Paths, text: string): string {
  return text.replaceAll(p.image, "image.raw").replaceAll(`${p.outDir}/`, "").replaceAll(p.keyFile, "admin.key");
}

function makeStickContender(p: Paths, key: string, threads: number, level: number): Contender {
  const out = join(p.outDir, key);
  const recovery = join(p.outDir, `${key}.recovery`);
  const args = [
    "build", "--image", p.image, "--format", "raw", "--out", out, "--signing-key", p.keyFile,
    "--chunk-size", "64K", "--compression-level", String(level), "--threads", String(threads),
    "--kdf-memory", "8192", "--kdf-passes", "1", "--recovery-key-file", recovery,
  ];
  return {
    key,
    label: `make-stick build (64K, level ${level}, ${threads} thread${threads === 1 ? "" : "s"})`,
    output: out,
    extraOutputs: [recovery],
    command: [process.execPath, MAKE_STICK, ...args],
    env: { STICKVM_PASSPHRASE: "benchmark passphrase" },
    display: shown(p, `STICKVM_PASSPHRASE=... node dist/scripts/make-stick.js ${args.join(" ")}`),
  };
}

function contenders(o: Options, p: Paths): Contender[] {
  const qcow2Out = join(p.outDir, "out.qcow2");
  const cpOut = join(p.outDir, "copy.raw");
  return [
    {
      key: "cp",
      label: "`cp` (raw copy)",
      output: cpOut,
      extraOutputs: [],
      command: ["cp", p.image, cpOut],
      display: shown(p, `cp ${p.image} ${cpOut}`),
    },
    {
      key: "qcow2",
      label: "`qemu-img convert -O qcow2 -c`",
      output: qcow2Out,
      extraOutputs: [],
      command: ["qemu-img", "convert", "-O", "qcow2", "-c", p.image, qcow2Out],
      display: shown(p, `qemu-img convert -O qcow2 -c ${p.image} ${qcow2Out}`),
    },
    makeStickContender(p, "stick", o.threads, 1),
  ];
}

// ---------------------------------------------------------------- markdown

interface Row {
  c: Contender;
  runs: RunResult[];
}

function summarize(r: Row, imageBytes: number): { seconds: number; cpu: number | undefined; mibps: number; bytes: number; rssKiB: number } {
  const seconds = median(r.runs.map((x) => x.seconds));
  const cpu = r.runs.map((x) => x.cpuSeconds);
  return {
    seconds,
    cpu: cpu.every((x) => x !== undefined) ? median(cpu) : undefined,
    mibps: imageBytes / MiB / seconds,
    bytes: median(r.runs.map((x) => x.outputBytes)),
    rssKiB: Math.max(...r.runs.map((x) => x.peakRssKiB ?? 0)),
  };
}

function table(rows: Row[], imageBytes: number): string[] {
  const lines = [
    "| tool | runs: wall s (of which final `sync`) | median wall s | throughput MiB/s | median CPU s (user+sys) | output bytes | output MiB | output / image | peak RSS MiB |",
    "|---|---|---:|---:|---:|---:|---:|---:|---:|",
  ];
  for (const r of rows) {
    const s = summarize(r, imageBytes);
    const runs = r.runs.map((x) => `${x.seconds.toFixed(2)} (${x.syncSeconds.toFixed(2)})`).join(", ");
    const rss = r.runs.some((x) => x.peakRssKiB === undefined) ? "n/a" : (s.rssKiB / 1024).toFixed(0);
    lines.push(
      `| ${r.c.label} | ${runs} | ${s.seconds.toFixed(2)} | ${s.mibps.toFixed(1)} | ${s.cpu === undefined ? "n/a" : s.cpu.toFixed(1)} | ${formatCell(s.bytes)} | ${(s.bytes / MiB).toFixed(1)} | ${((s.bytes / imageBytes) * 100).toFixed(1)}% | ${rss} |`,
    );
  }
  return lines;
}

interface Verdict {
  label: string;
  speedup: number;
  sizeRatio: number;
  speedOk: boolean;
  sizeOk: boolean;
}

function verdict(stick: Row, qcow2: Row, imageBytes: number): Verdict {
  const s = summarize(stick, imageBytes);
  const q = summarize(qcow2, imageBytes);
  const speedup = s.mibps / q.mibps;
  const sizeRatio = s.bytes / q.bytes;
  return { label: stick.c.label, speedup, sizeRatio, speedOk: speedup >= TARGET_SPEEDUP, sizeOk: sizeRatio <= 1 };
}

/** This is a VM: CPU time the hypervisor gives to others shows up as wall time nobody spent. */
function stealNote(rows: Row[]): string {
  const per = rows.map((r) => ({ key: r.c.key, steal: r.runs.map((x) => x.stealSeconds) }));
  if (per.some((p) => p.steal.some((x) => x === undefined))) return "";
  const text = per.map((p) => `${p.key} ${p.steal.map((x) => (x ?? 0).toFixed(1)).join("/")}`).join("; ");
  return `CPU time stolen by the hypervisor during each run, in CPU seconds summed over all cores (from \`/proc/stat\`; large values mean a noisy host slowed that run): ${text}.`;
}

function pass(ok: boolean): string {
  return ok ? "**PASS**" : "**FAIL**";
}

function section(p: {
  o: Options;
  m: Machine;
  img: ImageInfo;
  rows: Row[];
  verdicts: Verdict[];
  cache: "cold" | "warm";
  rss: string;
  startedAt: Date;
  benchSeconds: number;
  imageCached: boolean;
  stickStats: string;
  explore: boolean;
}): string {
  const { o, m, img, rows, verdicts } = p;
  const pct = (n: number): string => `${((n / img.size) * 100).toFixed(0)}%`;
  const out: string[] = [
    SECTION,
    "",
    `_Written by \`npm run bench\` (scripts/bench/build-bench.ts) on ${p.startedAt.toISOString().slice(0, 16).replace("T", " ")} UTC; the whole run took ${(p.benchSeconds / 60).toFixed(1)} min${p.imageCached ? ` with the input image already made (making it takes another ${img.seconds.toFixed(0)} s)` : `, ${img.seconds.toFixed(0)} s of it making the input image`}._`,
    "",
    `Issue target: build throughput at least ${TARGET_SPEEDUP}× that of \`qemu-img convert -O qcow2 -c\` (compressed qcow2) on the same input, with a stick no larger than the compressed qcow2, using both cores; \`cp\` of the raw file is the I/O floor. Throughput is the image's size (${(img.size / MiB).toFixed(0)} MiB) divided by the median wall time.`,
    "",
    "### Verdict",
    "",
    "| make-stick run | throughput vs qcow2 (target ≥ 1.5×) | stick size vs qcow2 (target ≤ 1.0×) |",
    "|---|---:|---:|",
    ...verdicts.map((v) => `| ${v.label} | ${v.speedup.toFixed(2)}× ${pass(v.speedOk)} | ${v.sizeRatio.toFixed(3)}× ${pass(v.sizeOk)} |`),
    "",
    "### Numbers",
    "",
    ...table(rows, img.size),
    "",
    `Median of ${o.rounds} run${o.rounds === 1 ? "" : "s"} each. Wall time is the command plus a \`sync\` right after it, so every tool pays for getting its output onto the disk (make-stick fsyncs its files itself; \`cp\` and \`qemu-img\` leave dirty pages). Output size is the apparent size of the output (for the stick: every file in the stick folder). Peak RSS is the largest of the runs (${p.rss}); make-stick's worker threads live in its one process, so its number covers them. CPU seconds (GNU time's \`%U\` + \`%S\`) over wall seconds shows how many of the ${p.m.cores} cores a tool kept busy.`,
    "",
    p.stickStats.length > 0 ? `make-stick reported: ${p.stickStats}` : "",
    "",
    stealNote(rows),
    "",
    "### Input",
    "",
    `A ${(img.size / MiB).toFixed(0)} MiB raw ext4 image (${img.dense ? "fully allocated" : `sparse as mke2fs leaves it: ${(img.allocatedBytes / MiB).toFixed(0)} MiB allocated`}) holding copies of real files from this machine (${img.sources.map((s) => `\`${s}\``).join(", ")}, each folder walked in sorted order up to its share of ${(o.fill * 100).toFixed(0)}% of the size: 40% from the first, 15% each from the next three, the rest from the others, what one leaves passing on to the next): ${img.files} files, ${img.symlinks} symlinks, ${img.dirs} folders, ${(img.fileBytes / MiB).toFixed(0)} MiB of file blocks; the file system uses ${(img.usedBytes / MiB).toFixed(0)} MiB (${pct(img.usedBytes)}) and the rest is zeros. Made with \`${img.command}\` in ${img.seconds.toFixed(0)} s and cached under \`${o.work}\` for reruns.`,
    "",
    "### Method",
    "",
    `- ${o.rounds} round${o.rounds === 1 ? "" : "s"} of \`cp\`, \`qemu-img\` and make-stick with its defaults: every tool runs once a round, and the order rotates from round to round (round 1: cp, qcow2, stick; round 2: qcow2, stick, cp; …).${p.rows.length > 3 ? ` Then ${o.rounds} round${o.rounds === 1 ? "" : "s"} of the other make-stick settings (${p.rows.slice(3).map((r) => r.c.key).join(", ")}), rotated the same way${p.explore ? " (asked for with --explore)" : ", measured because level 1 missed the size target"}.` : ""}`,
    p.cache === "cold"
      ? "- Cold cache: before every run the previous output is deleted, then `sync; echo 3 > /proc/sys/vm/drop_caches`, so every tool reads the image from the disk."
      : "- Warm cache: before every run the previous output is deleted and the image is read once (`cat image.raw`), so every tool reads the image from the page cache (dropping caches was not possible or not asked for).",
    `- Outputs go to the same file system as the image (${m.workFs}).`,
    img.dense
      ? "- The image has no holes, so every tool reads all of it."
      : "- The image keeps the holes mke2fs left (its free space): `cp` and `qemu-img` skip them (SEEK_DATA / block status), make-stick reads them as zeros (no disk I/O, only the CPU for its zero-chunk check). `--dense` makes an image without holes.",
    "- make-stick uses a fast argon2id setting (`--kdf-memory 8192 --kdf-passes 1`) so key derivation (a fixed one-off cost of about a second at the defaults) does not blur the throughput.",
    "- Commands, run as `/usr/bin/time -f '%M %U %S' -o FILE <command>`, each followed by `sync`:",
    "",
    "```sh",
    img.command.replace(/; cp .*/, ""),
    ...rows.map((r) => r.c.display),
    "```",
    "",
    `Rerun: \`npm run bench -- --size ${o.sizeText} --fill ${o.fill} --rounds ${o.rounds} --levels ${o.levels.join(",")}${o.explore ? " --explore" : ""}${o.dense ? " --dense" : ""}\` (as root for a cold cache; needs \`qemu-img\` from qemu-utils, \`mke2fs\`/\`dumpe2fs\` from e2fsprogs and \`/usr/bin/time\` from the Debian package \`time\`).`,
    "",
    "### Machine",
    "",
    `- CPU: ${m.cpu}, ${m.cores} cores; RAM ${m.ram}`,
    `- OS: ${m.os}; kernel ${m.kernel}`,
    `- Node ${m.node}; ${m.qemuImg}; ${m.mke2fs}; ${m.time}`,
    `- stickvm commit ${m.commit}`,
    "",
  ];
  return out.join("\n").replace(/\n{3,}/g, "\n\n");
}

async function writeSection(file: string, text: string): Promise<void> {
  let doc: string;
  try {
    doc = await readFile(file, "utf8");
  } catch {
    doc = "# Benchmarks\n\nMeasured numbers, one section per benchmark; each section is rewritten by the script that made it.\n\n";
  }
  const lines = doc.split("\n");
  const start = lines.findIndex((l) => l.trim() === SECTION);
  if (start < 0) {
    await writeFile(file, `${doc.replace(/\n*$/, "\n\n")}${text.trimEnd()}\n`);
    return;
  }
  let end = lines.findIndex((l, i) => i > start && /^## /.test(l));
  if (end < 0) end = lines.length;
  const next = lines.slice(end).join("\n");
  await writeFile(file, `${lines.slice(0, start).join("\n")}${start > 0 ? "\n" : ""}${text.trimEnd()}\n${next.length > 0 ? `\n${next}` : ""}`.replace(/\n*$/, "\n"));
}

// ---------------------------------------------------------------- main

async function main(): Promise<void> {
  const o = readOptions();
  const startedAt = new Date();
  const t0 = process.hrtime.bigint();
  if (!existsSync(MAKE_STICK)) throw new Error(`${MAKE_STICK} is missing: run npm run build first`);
  for (const tool of ["qemu-img", "mke2fs", "dumpe2fs"]) {
    if (capture("sh", ["-c", `command -v ${tool}`]) === "unknown") throw new Error(`${tool} is not installed`);
  }
  await mkdir(o.work, { recursive: true });
  const metaExisted = existsSync(join(o.work, `${imageTag(o)}.raw.json`));
  const img = await makeImage(o);
  const keyDir = join(o.work, "keys");
  if (!existsSync(join(keyDir, "admin.key"))) {
    execFileSync(process.execPath, [MAKE_STICK, "keygen", "--out", keyDir], { stdio: ["ignore", "ignore", "inherit"] });
  }
  const outDir = join(o.work, "out");
  await rm(outDir, { recursive: true, force: true });
  await mkdir(outDir, { recursive: true });

  let cache = o.cache;
  if (cache === "cold" && !(await dropCaches())) {
    log("cannot write /proc/sys/vm/drop_caches (not root?): measuring with a warm cache instead");
    cache = "warm";
  }
  const useTime = existsSync("/usr/bin/time");
  if (!useTime) log("/usr/bin/time is missing (Debian package `time`): peak RSS is polled from /proc/PID/status VmHWM instead");
  const rssMethod = useTime ? "GNU time's `%M`, the kernel's ru_maxrss of the process" : "polled from VmHWM in /proc/PID/status every 20 ms (no /usr/bin/time)";

  const paths: Paths = { image: img.path, keyFile: join(keyDir, "admin.key"), outDir };
  const list = contenders(o, paths);
  const rows: Row[] = list.map((c) => ({ c, runs: [] }));
  const prepare = async (): Promise<void> => {
    if (cache === "cold") await dropCaches();
    else warmImage(img.path);
  };
  const runRow = async (r: Row, round: number): Promise<void> => {
    await prepare();
    log(`round ${round + 1}: ${r.c.display}`);
    const res = await runContender(r.c, useTime);
    log(`  ${res.seconds.toFixed(2)} s (sync ${res.syncSeconds.toFixed(2)} s), ${formatCell(res.outputBytes)} bytes, peak RSS ${res.peakRssKiB === undefined ? "n/a" : `${(res.peakRssKiB / 1024).toFixed(0)} MiB`}, steal ${res.stealSeconds === undefined ? "n/a" : res.stealSeconds.toFixed(1)} s`);
    r.runs.push(res);
  };
  const runRounds = async (set: Row[]): Promise<void> => {
    for (let round = 0; round < o.rounds; round++) {
      for (let i = 0; i < set.length; i++) {
        const r = set[(i + round) % set.length];
        if (r !== undefined) await runRow(r, round);
      }
    }
  };
  await runRounds(rows);

  const byKey = (k: string): Row => {
    const r = rows.find((x) => x.c.key === k);
    if (r === undefined) throw new Error(`no row ${k}`);
    return r;
  };
  const qcow2 = byKey("qcow2");
  const first = verdict(byKey("stick"), qcow2, img.size);
  const extra: Contender[] = [];
  if (!first.sizeOk || o.explore) {
    for (const level of o.levels) if (level !== 1) extra.push(makeStickContender(paths, `stick-l${level}`, o.threads, level));
  }
  if (o.explore && o.threads !== 1) extra.push(makeStickContender(paths, "stick-t1", 1, 1));
  if (extra.length > 0) {
    log(first.sizeOk ? "exploring make-stick variants" : `the default stick is larger than the qcow2: also measuring --compression-level ${o.levels.join(", ")}`);
    const extraRows: Row[] = extra.map((c) => ({ c, runs: [] }));
    await runRounds(extraRows);
    rows.push(...extraRows);
  }
  await rm(outDir, { recursive: true, force: true });

  const verdicts = rows.filter((r) => r.c.key.startsWith("stick")).map((r) => verdict(r, qcow2, img.size));
  const stickRow = byKey("stick");
  const stickStats = stickRow.runs[0]?.stdout.split("\n").find((l) => l.startsWith("image ")) ?? "";
  const m = await machine(o.work);
  const benchSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const text = section({ o, m, img, rows, verdicts, cache, rss: rssMethod, startedAt, benchSeconds, imageCached: metaExisted, stickStats, explore: o.explore });
  await writeSection(o.out, text);
  log(`wrote ${relative(process.cwd(), o.out) || o.out} in ${benchSeconds.toFixed(0)} s`);
  console.log(text);
}

await main();
