#!/usr/bin/env node
// Build benchmark: `make-stick build` against `qemu-img convert -O qcow2 -c` and `cp`, side by
// side on one ext4 image of real files, then make-stick's peak memory on that image and on one
// four times its size. Writes the "## make-stick build" section of BENCHMARKS.md.
//
// `npm run bench` runs it with the defaults (and then the other benchmarks); to pass options:
//   npm run build && node dist/scripts/bench/build-bench.js [--size 1G] [--fill 0.7] [--rounds 3] [--work DIR] [--cache cold|warm]
//     [--threads N] [--levels 1,6] [--explore] [--dense] [--skip-memory] [--idle-wait 120] [--out FILE]
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, open, readFile, rename, rm, stat, statfs, writeFile } from "node:fs/promises";
import { availableParallelism, cpus, tmpdir, totalmem } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { BUILD_DEFAULTS } from "../../src/admin/build.js";
import { STICK_FILES } from "../../stick-layout/format.js";
import { parseSize } from "../../src/util/parse-size.js";
import { formatCell, type Contender, type RunResult, runContender, treeSize, waitForIdle } from "./bench-run.js";
import { capture, dropCaches, firstLine, makeLog, median, writeSection } from "./bench-util.js";
import { stageRealFiles } from "./real-files.js";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const MAKE_STICK = join(ROOT, "dist", "scripts", "make-stick.js");
const SECTION = "## make-stick build";
const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const TARGET_SPEEDUP = 1.5;
/** make-stick's own compression level when --compression-level is not given. */
const DEFAULT_LEVEL: number = BUILD_DEFAULTS.compressionLevel;
/** The memory check builds the image and an image this many times its size. */
const SCALE = 4;
/** Bump when the way the scaled image is made changes, so cached ones are made again. */
const SCALED_RECIPE = 1;
/** The memory projection: an image this large, cut into chunks this large (the bench's --chunk-size). */
const PROJECT_BYTES = 20 * GiB;
const CHUNK_BYTES = 64 * 1024;
/** Shell equivalent of one XORed copy (shown in BENCHMARKS.md): stdin XOR the byte given as argument. */
const PERL_XOR = "binmode STDIN; binmode STDOUT; $/ = \\65536; $m = chr(shift) x 65536; print $_ ^ substr($m, 0, length) while <STDIN>";
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
  /** Other compression levels measured besides make-stick's default, so the speed/size trade-off shows. */
  levels: number[];
  dense: boolean;
  skipMemory: boolean;
  /** Longest wait, in seconds, for a quiet machine before each run (0: do not wait). */
  idleWait: number;
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
      levels: { type: "string", default: "1,6" },
      dense: { type: "boolean", default: false },
      "skip-memory": { type: "boolean", default: false },
      "idle-wait": { type: "string", default: "120" },
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
        `  --levels L,...    other make-stick compression levels measured besides its default (${String(DEFAULT_LEVEL)});`,
        "                    \"\" for none (default 1,6)",
        "  --explore         also measure make-stick with --threads 1",
        "  --dense           write the image without holes (default: as mke2fs leaves it, sparse)",
        `  --skip-memory     skip the peak-memory check on the image and on one ${String(SCALE)}× its size`,
        "  --idle-wait S     before each run, wait up to S seconds for a quiet machine (default 120; 0: never)",
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
  const idleWait = Number(values["idle-wait"]);
  if (!(idleWait >= 0)) throw new Error("--idle-wait must be a number of seconds ≥ 0");
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
    skipMemory: values["skip-memory"],
    idleWait,
    out: values.out,
  };
}

const log = makeLog("build-bench");

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
  // mke2fs's default for images of 512 MiB and more: one inode per 16 KiB; keep a margin.
  const s = await stageRealFiles(staging, total, Math.floor((o.size / 16384) * 0.8), log);
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
    sources: s.sources,
    seconds: Number(process.hrtime.bigint() - t0) / 1e9,
    dense: o.dense,
    command: `mke2fs ${mkfs.join(" ").replace(staging, "SRC_DIR").replace(path, "image.raw")}${o.dense ? "; cp --sparse=never (no holes)" : ""}`,
  };
  await writeFile(metaPath, JSON.stringify(info, null, 2));
  return info;
}

// ---------------------------------------------------------------- scaled image (memory check)

interface ScaledImage {
  recipe: number;
  path: string;
  size: number;
  /** The image it was made from, and that image's mtime then (a remade image invalidates it). */
  source: string;
  sourceMtimeMs: number;
  allocatedBytes: number;
  seconds: number;
}

function scaledImagePath(o: Options): string {
  return join(o.work, `${imageTag(o)}-x${String(SCALE)}.raw`);
}

async function cachedScaledImage(img: ImageInfo, path: string): Promise<ScaledImage | undefined> {
  const metaPath = `${path}.json`;
  if (!existsSync(path) || !existsSync(metaPath)) return undefined;
  const meta = JSON.parse(await readFile(metaPath, "utf8")) as ScaledImage;
  const [src, st] = await Promise.all([stat(img.path), stat(path)]);
  const ok = meta.recipe === SCALED_RECIPE && meta.size === img.size * SCALE && st.size === meta.size && meta.source === img.path && meta.sourceMtimeMs === src.mtimeMs;
  return ok ? meta : undefined;
}

/**
 * The image, then SCALE − 1 copies of it with every byte XORed with 0x01, 0x02, …: XOR with a constant
 * only renames the byte values, so each copy compresses like the image, yet no chunk of a copy equals a
 * chunk of the image or of another copy. The first copy keeps the image's holes (all-zero 4 MiB blocks
 * are not written); the XORed copies have none (their zeros became 0x01, 0x02, …).
 */
async function makeScaledImage(img: ImageInfo, path: string): Promise<ScaledImage> {
  const t0 = process.hrtime.bigint();
  const tmp = `${path}.tmp`;
  await rm(`${path}.json`, { force: true });
  await rm(path, { force: true });
  const block = 4 * MiB;
  const buf = new Uint8Array(block);
  const words = new Uint32Array(buf.buffer);
  const zero = Buffer.alloc(block);
  const src = await open(img.path, "r");
  try {
    const dst = await open(tmp, "w");
    try {
      for (let copy = 0; copy < SCALE; copy++) {
        log(`writing part ${String(copy + 1)} of ${String(SCALE)} of ${path}${copy === 0 ? "" : ` (bytes XOR 0x0${String(copy)})`}`);
        const mask = copy * 0x01010101;
        for (let pos = 0; pos < img.size; pos += block) {
          const len = Math.min(block, img.size - pos);
          const { bytesRead } = await src.read(buf, 0, len, pos);
          if (bytesRead !== len) throw new Error(`${img.path}: short read at ${String(pos)}`);
          const data = buf.subarray(0, len);
          if (copy === 0) {
            if (zero.subarray(0, len).equals(data)) continue;
          } else {
            const n = len >>> 2;
            for (let i = 0; i < n; i++) words[i] = (words[i] ?? 0) ^ mask;
            for (let i = n * 4; i < len; i++) buf[i] = (buf[i] ?? 0) ^ copy;
          }
          await dst.write(data, 0, len, copy * img.size + pos);
        }
      }
      await dst.truncate(img.size * SCALE);
      await dst.sync();
    } finally {
      await dst.close();
    }
  } finally {
    await src.close();
  }
  await rename(tmp, path);
  const info: ScaledImage = {
    recipe: SCALED_RECIPE,
    path,
    size: img.size * SCALE,
    source: img.path,
    sourceMtimeMs: (await stat(img.path)).mtimeMs,
    allocatedBytes: (await treeSize(path)).allocated,
    seconds: Number(process.hrtime.bigint() - t0) / 1e9,
  };
  await writeFile(`${path}.json`, JSON.stringify(info, null, 2));
  return info;
}

// ---------------------------------------------------------------- page cache

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
  const changed = status === "unknown" ? [] : status.split("\n").map((l) => l.replace(/^\s*\S+\s+/, "").trim()).filter((f) => f.length > 0);
  const changedText = changed.length > 4 ? `${changed.slice(0, 4).join(", ")} and ${String(changed.length - 4)} more` : changed.join(", ");
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
    commit: `${capture("git", ["-C", ROOT, "rev-parse", "--short", "HEAD"])}${changed.length > 0 ? ` + uncommitted changes (${changedText})` : ""}, as the run started`,
  };
}

// ---------------------------------------------------------------- contenders

interface Paths {
  image: string;
  /** How the image is named in BENCHMARKS.md. */
  imageName: string;
  keyFile: string;
  outDir: string;
}

/** The command as shown in BENCHMARKS.md: paths relative to the work folder. */
function shown(p: Paths, text: string): string {
  return text.replaceAll(p.image, p.imageName).replaceAll(`${p.outDir}/`, "").replaceAll(p.keyFile, "admin.key");
}

/** make-stick build; `level` undefined leaves --compression-level out, so the tool's default applies. */
function makeStickContender(p: Paths, key: string, threads: number, level: number | undefined): Contender {
  const out = join(p.outDir, key);
  const recovery = join(p.outDir, `${key}.recovery`);
  const args = [
    "build", "--image", p.image, "--format", "raw", "--out", out, "--signing-key", p.keyFile,
    "--chunk-size", "64K", ...(level === undefined ? [] : ["--compression-level", String(level)]), "--threads", String(threads),
    "--kdf-memory", "8192", "--kdf-passes", "1", "--recovery-key-file", recovery,
  ];
  const levelText = level === undefined ? `level ${String(DEFAULT_LEVEL)} = default` : `level ${String(level)}`;
  return {
    key,
    label: `make-stick build (64K, ${levelText}, ${String(threads)} thread${threads === 1 ? "" : "s"})`,
    output: out,
    extraOutputs: [recovery],
    // the base the image became: what the size target is about (the user disk's log is preallocated, whatever the image)
    stored: [STICK_FILES.chunksDir, STICK_FILES.baseDir],
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
    makeStickContender(p, "stick", o.threads, undefined),
  ];
}

// ---------------------------------------------------------------- memory check: figures

interface ChunkStats {
  total: number;
  zero: number;
  duplicate: number;
  stored: number;
}

/** The chunk counts make-stick prints: "image N bytes: T chunks (Z zero, D duplicate, S stored), …". */
function chunkStats(stdout: string): ChunkStats | undefined {
  const m = /(\d+) chunks \((\d+) zero, (\d+) duplicate, (\d+) stored\)/.exec(stdout);
  if (m?.[1] === undefined || m[2] === undefined || m[3] === undefined || m[4] === undefined) return undefined;
  return { total: Number(m[1]), zero: Number(m[2]), duplicate: Number(m[3]), stored: Number(m[4]) };
}

interface MemRun {
  /** The image, as named in BENCHMARKS.md. */
  name: string;
  what: string;
  imageBytes: number;
  c: Contender;
  res: RunResult;
  rssKiB: number;
  chunks: ChunkStats;
}

type Memory =
  | { kind: "skipped"; why: string }
  | { kind: "measured"; scaled: ScaledImage; scaledCached: boolean; small: MemRun; big: MemRun };

function sizeText(bytes: number): string {
  return bytes % GiB === 0 ? `${String(bytes / GiB)} GiB` : `${(bytes / MiB).toFixed(0)} MiB`;
}

interface Growth {
  deltaMiB: number;
  deltaChunks: number;
  /** Bytes of peak RSS per extra stored chunk. */
  perChunk: number;
  projectChunks: number;
  /** Projected peak RSS in MiB. */
  projectedMiB: number;
}

function growth(small: MemRun, big: MemRun): Growth {
  const a = small.rssKiB / 1024;
  const b = big.rssKiB / 1024;
  const deltaChunks = big.chunks.stored - small.chunks.stored;
  const perChunk = ((b - a) * MiB) / deltaChunks;
  const projectChunks = PROJECT_BYTES / CHUNK_BYTES;
  // No measurable growth: project the larger of the two measurements, flat.
  const projectedMiB = perChunk > 0 ? a + (perChunk * (projectChunks - small.chunks.stored)) / MiB : Math.max(a, b);
  return { deltaMiB: b - a, deltaChunks, perChunk, projectChunks, projectedMiB };
}

/** `rows`: the rounds on the image, whose make-stick runs show how much peak RSS varies between runs. */
function memoryLines(mem: Memory, rows: Row[], defaultRow: Row, threads: number, cache: "cold" | "warm"): string[] {
  const head = ["### Memory: does it grow with the image?", ""];
  if (mem.kind === "skipped") return [...head, `_Skipped: ${mem.why}_`, ""];
  const { small, big } = mem;
  const g = growth(small, big);
  const mib = (kib: number): string => (kib / 1024).toFixed(0);
  const spread = defaultRow.runs.map((r) => r.peakRssKiB ?? 0);
  const spreadMiB = (Math.max(...spread) - Math.min(...spread)) / 1024;
  // Every make-stick run on the small image, any setting: the widest view of run-to-run variation.
  const allSmall = [...rows.filter((r) => r.c.key.startsWith("stick")).flatMap((r) => r.runs.map((x) => x.peakRssKiB ?? 0)), small.rssKiB];
  const allLo = Math.min(...allSmall);
  const allHi = Math.max(...allSmall);
  const noisy = Math.abs(g.deltaMiB) <= (allHi - allLo) / 1024;
  const row = (r: MemRun): string =>
    `| \`${r.name}\` (${r.what}) | ${formatCell(r.chunks.total)} | ${formatCell(r.chunks.zero)} | ${formatCell(r.chunks.duplicate)} | ${formatCell(r.chunks.stored)} | ${r.res.seconds.toFixed(2)} | ${(r.imageBytes / MiB / r.res.seconds).toFixed(1)} | ${(r.res.storedBytes / MiB).toFixed(1)} | ${mib(r.rssKiB)} |`;
  const a = mib(small.rssKiB);
  const grewText =
    g.perChunk > 0
      ? `- Measured: peak RSS grew by ${g.deltaMiB.toFixed(1)} MiB (${a} → ${mib(big.rssKiB)} MiB) while the stored chunks grew by ${formatCell(g.deltaChunks)} (${formatCell(small.chunks.stored)} → ${formatCell(big.chunks.stored)}): **${g.perChunk.toFixed(0)} bytes of peak RSS per stored chunk**.`
      : `- Measured: peak RSS did not grow (${a} → ${mib(big.rssKiB)} MiB, ${g.deltaMiB.toFixed(1)} MiB) while the stored chunks grew by ${formatCell(g.deltaChunks)} (${formatCell(small.chunks.stored)} → ${formatCell(big.chunks.stored)}): ${g.perChunk.toFixed(0)} bytes per stored chunk, i.e. no growth this measurement can resolve.`;
  const projText =
    g.perChunk > 0
      ? `linear growth from the ${sizeText(small.imageBytes)} run gives ${a} MiB + ${g.perChunk.toFixed(0)} bytes × (${formatCell(g.projectChunks)} − ${formatCell(small.chunks.stored)}) ≈ **${g.projectedMiB.toFixed(0)} MiB of peak RSS**.`
      : `with no measured growth per chunk the projection is flat, the larger of the two measurements: ≈ **${g.projectedMiB.toFixed(0)} MiB of peak RSS**.`;
  return [
    ...head,
    `make-stick build with its defaults (64K chunks, level ${String(DEFAULT_LEVEL)}, ${String(threads)} thread${threads === 1 ? "" : "s"}: the command of the default row above), once on the ${sizeText(small.imageBytes)} image and once on a ${sizeText(big.imageBytes)} image made from it (see Input), each with a ${cache} page cache like the runs above. One run each; for scale, the default row's ${defaultRow.runs.length === 1 ? "run" : `${String(defaultRow.runs.length)} runs`} above peaked at ${defaultRow.runs.map((r) => (r.peakRssKiB === undefined ? "n/a" : mib(r.peakRssKiB))).join(" / ")} MiB, a spread of ${spreadMiB.toFixed(1)} MiB; all ${String(allSmall.length)} make-stick runs on the ${sizeText(small.imageBytes)} image, any level, peaked between ${mib(allLo)} and ${mib(allHi)} MiB. The wall times below are single runs, as noisy as the rounds above show.`,
    "",
    "| image | chunks | zero | duplicate | stored | wall s | throughput MiB/s | stored base MiB | peak RSS MiB |",
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    row(small),
    row(big),
    "",
    small.res.otherCpuSeconds !== undefined && big.res.otherCpuSeconds !== undefined
      ? `CPU seconds stolen by the hypervisor / spent on other work during the two runs (as above): ${(small.res.stealSeconds ?? 0).toFixed(1)} / ${small.res.otherCpuSeconds.toFixed(1)} and ${(big.res.stealSeconds ?? 0).toFixed(1)} / ${big.res.otherCpuSeconds.toFixed(1)}.`
      : "",
    "",
    `The ${sizeText(big.imageBytes)} image's zero chunks are those of its first part (the image itself); its duplicates are mostly the XORed copies' former zero chunks, now runs of 0x01, 0x02, … that are stored once per copy.`,
    "",
    grewText,
    ...(noisy && g.perChunk > 0
      ? [`- Caution: that growth is no larger than the spread between runs on the ${sizeText(small.imageBytes)} image (${mib(allLo)}–${mib(allHi)} MiB), so with one run each the per-chunk figure is a rough estimate, not a precise one.`]
      : []),
    `- **Projection (computed from the two runs above, not measured):** a 20 GiB image at 64K chunks has ${formatCell(g.projectChunks)} chunks; if every one of them were stored (no zero or duplicate chunks: the worst case), ${projText}`,
    "",
  ];
}


// ---------------------------------------------------------------- markdown

interface IdleStats {
  runs: number;
  /** Seconds spent waiting for a quiet machine, all runs together. */
  seconds: number;
  /** Runs that started after giving up waiting. */
  busyStarts: number;
}

interface Row {
  c: Contender;
  runs: RunResult[];
}

function summarize(r: Row, imageBytes: number): { seconds: number; cpu: number | undefined; mibps: number; bytes: number; otherBytes: number; rssKiB: number } {
  const seconds = median(r.runs.map((x) => x.seconds));
  const cpu = r.runs.map((x) => x.cpuSeconds);
  return {
    seconds,
    cpu: cpu.every((x) => x !== undefined) ? median(cpu) : undefined,
    mibps: imageBytes / MiB / seconds,
    bytes: median(r.runs.map((x) => x.storedBytes)),
    otherBytes: median(r.runs.map((x) => x.outputBytes - x.storedBytes)),
    rssKiB: Math.max(...r.runs.map((x) => x.peakRssKiB ?? 0)),
  };
}

function table(rows: Row[], imageBytes: number): string[] {
  const lines = [
    "| tool | runs: wall s (of which final `sync`) | median wall s | throughput MiB/s | median CPU s (user+sys) | stored bytes | stored MiB | stored / image | other files MiB | peak RSS MiB |",
    "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
  ];
  for (const r of rows) {
    const s = summarize(r, imageBytes);
    const runs = r.runs.map((x) => `${x.seconds.toFixed(2)} (${x.syncSeconds.toFixed(2)})`).join(", ");
    const rss = r.runs.some((x) => x.peakRssKiB === undefined) ? "n/a" : (s.rssKiB / 1024).toFixed(0);
    lines.push(
      `| ${r.c.label} | ${runs} | ${s.seconds.toFixed(2)} | ${s.mibps.toFixed(1)} | ${s.cpu === undefined ? "n/a" : s.cpu.toFixed(1)} | ${formatCell(s.bytes)} | ${(s.bytes / MiB).toFixed(1)} | ${((s.bytes / imageBytes) * 100).toFixed(1)}% | ${r.c.stored === undefined ? "—" : (s.otherBytes / MiB).toFixed(1)} | ${rss} |`,
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

/** Per-run figures of every row, "key a/b/c; …", or "" when some run lacks the figure. */
function perRun(rows: Row[], pick: (r: RunResult) => number | undefined): string {
  const per = rows.map((r) => ({ key: r.c.key, xs: r.runs.map(pick) }));
  if (per.some((p) => p.xs.some((x) => x === undefined))) return "";
  return per.map((p) => `${p.key} ${p.xs.map((x) => (x ?? 0).toFixed(1)).join("/")}`).join("; ");
}

/**
 * This is a VM, maybe shared with other work: CPU time the hypervisor gives to others, or that other
 * processes here use, shows up as wall time the measured command did not spend.
 */
function noiseNotes(rows: Row[]): string[] {
  const steal = perRun(rows, (x) => x.stealSeconds);
  const other = perRun(rows, (x) => x.otherCpuSeconds);
  return [
    steal.length > 0
      ? `CPU time stolen by the hypervisor during each run, in CPU seconds summed over all cores (from \`/proc/stat\`; large values mean a noisy host slowed that run): ${steal}.`
      : "",
    "",
    other.length > 0
      ? `CPU time the machine spent on other work during each run (busy time in \`/proc/stat\` minus the command's own user+sys; it includes the kernel's writeback and the final \`sync\`, so a second or so is normal, while large values mean other processes competed for the cores): ${other}.`
      : "",
  ];
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
  mem: Memory;
  idle: IdleStats;
}): string {
  const { o, m, img, rows, verdicts, mem } = p;
  const pct = (n: number): string => `${((n / img.size) * 100).toFixed(0)}%`;
  const defaultRow = rows.find((r) => r.c.key === "stick");
  if (defaultRow === undefined) throw new Error("no default make-stick row");
  // How much of the run went into making the input images, and which ones were reused from the cache.
  const images = [{ name: `${sizeText(img.size)} input image`, seconds: img.seconds, cached: p.imageCached }];
  if (mem.kind === "measured") images.push({ name: `${sizeText(mem.scaled.size)} image`, seconds: mem.scaled.seconds, cached: mem.scaledCached });
  const made = images.filter((x) => !x.cached).map((x) => `${x.seconds.toFixed(0)} s of it making the ${x.name}`);
  const reused = images.filter((x) => x.cached).map((x) => `the ${x.name} was cached (making it takes another ${x.seconds.toFixed(0)} s)`);
  const madeText = `${made.length > 0 ? `, ${made.join(" and ")}` : ""}${reused.length > 0 ? `; ${reused.join("; ")}` : ""}`;
  const otherSettings = rows.slice(3).map((r) => (r.c.key.startsWith("stick-l") ? `\`--compression-level ${r.c.key.slice("stick-l".length)}\`` : r.c.key === "stick-t1" ? "`--threads 1`" : r.c.key));
  const scaledName = `image-x${String(SCALE)}.raw`;
  const xors = Array.from({ length: SCALE - 1 }, (_, i) => `0x0${String(i + 1)}`);
  const out: string[] = [
    SECTION,
    "",
    `_Written by \`npm run bench\` (scripts/bench/build-bench.ts) on ${p.startedAt.toISOString().slice(0, 16).replace("T", " ")} UTC; the whole run took ${(p.benchSeconds / 60).toFixed(1)} min${madeText}${p.idle.seconds >= 30 ? `; ${p.idle.seconds.toFixed(0)} s of it waiting for a quiet machine` : ""}._`,
    "",
    `Issue target: build throughput at least ${TARGET_SPEEDUP}× that of \`qemu-img convert -O qcow2 -c\` (compressed qcow2) on the same input, with a stick no larger than the compressed qcow2, using both cores; \`cp\` of the raw file is the I/O floor. Throughput is the image's size (${(img.size / MiB).toFixed(0)} MiB) divided by the median wall time.`,
    "",
    "### Verdict",
    "",
    "| make-stick run | throughput vs qcow2 (target ≥ 1.5×) | stored base vs qcow2 (target ≤ 1.0×) |",
    "|---|---:|---:|",
    ...verdicts.map((v) => `| ${v.label} | ${v.speedup.toFixed(2)}× ${pass(v.speedOk)} | ${v.sizeRatio.toFixed(3)}× ${pass(v.sizeOk)} |`),
    "",
    "### Numbers",
    "",
    ...table(rows, img.size),
    "",
    `Median of ${o.rounds} run${o.rounds === 1 ? "" : "s"} each. Wall time is the command plus a \`sync\` right after it, so every tool pays for getting its output onto the disk (make-stick fsyncs its files itself; \`cp\` and \`qemu-img\` leave dirty pages). Stored size is the apparent size of the output; for a stick, of the base it stores (\`${STICK_FILES.chunksDir}/\`: the packs and the chunk index; \`${STICK_FILES.baseDir}/\`: the signed manifests), which is what the size target compares with the qcow2. The stick's other files do not depend on the image and are shown apart: the user disk's log, whose segment files are preallocated at their full size (sparse: apparent size shown, almost nothing allocated), the header, the key slots, the policy and the launch scripts. Peak RSS is the largest of the runs (${p.rss}); make-stick's worker threads live in its one process, so its number covers them. CPU seconds (GNU time's \`%U\` + \`%S\`) over wall seconds shows how many of the ${p.m.cores} cores a tool kept busy.`,
    "",
    p.stickStats.length > 0 ? `make-stick reported: ${p.stickStats}` : "",
    "",
    ...noiseNotes(rows),
    "",
    ...memoryLines(mem, rows, defaultRow, o.threads, p.cache),
    "### Input",
    "",
    `A ${(img.size / MiB).toFixed(0)} MiB raw ext4 image (${img.dense ? "fully allocated" : `sparse as mke2fs leaves it: ${(img.allocatedBytes / MiB).toFixed(0)} MiB allocated`}) holding copies of real files from this machine (${img.sources.map((s) => `\`${s}\``).join(", ")}, each folder walked in sorted order up to its share of ${(o.fill * 100).toFixed(0)}% of the size: 40% from the first, 15% each from the next three, the rest from the others, what one leaves passing on to the next): ${img.files} files, ${img.symlinks} symlinks, ${img.dirs} folders, ${(img.fileBytes / MiB).toFixed(0)} MiB of file blocks; the file system uses ${(img.usedBytes / MiB).toFixed(0)} MiB (${pct(img.usedBytes)}) and the rest is zeros. Made with \`${img.command}\` in ${img.seconds.toFixed(0)} s and cached under \`${o.work}\` for reruns.`,
    "",
    mem.kind === "measured"
      ? `For the memory check, \`${scaledName}\` (${sizeText(mem.scaled.size)}, ${(mem.scaled.allocatedBytes / MiB).toFixed(0)} MiB allocated): the image above, then ${String(SCALE - 1)} copies of it with every byte XORed with ${xors.join(", ")}. XOR with a constant only renames the byte values, so every copy compresses just like the image, yet none of its chunks equals one of the image or of another copy; each copy's zero stretches become a run of one byte value, which is stored once per copy and, unlike the image's holes, written to the disk. The first part keeps the image's holes (all-zero 4 MiB blocks are skipped). Written by build-bench.ts in ${mem.scaled.seconds.toFixed(0)} s (it needs about ${sizeText(mem.scaled.size)} of free disk) and cached as \`${mem.scaled.path}\`; the shell commands below give the same bytes.`
      : "",
    "",
    "### Method",
    "",
    `- ${String(o.rounds)} round${o.rounds === 1 ? "" : "s"} of \`cp\`, \`qemu-img\` and make-stick with its default compression (no \`--compression-level\`: level ${String(DEFAULT_LEVEL)}): every tool runs once a round, and the order rotates from round to round (round 1: cp, qcow2, stick; round 2: qcow2, stick, cp; …).${otherSettings.length > 0 ? ` Then ${String(o.rounds)} round${o.rounds === 1 ? "" : "s"} of the other make-stick settings (${otherSettings.join(", ")}), rotated the same way, so the speed/size trade-off around the default stays visible.` : ""}`,
    p.cache === "cold"
      ? "- Cold cache: before every run the previous output is deleted, then `sync; echo 3 > /proc/sys/vm/drop_caches`, so every tool reads the image from the disk."
      : "- Warm cache: before every run the previous output is deleted and the image is read once (`cat image.raw`), so every tool reads the image from the page cache (dropping caches was not possible or not asked for).",
    `- Outputs go to the same file system as the image (${m.workFs}).`,
    o.idleWait > 0
      ? `- Quiet machine: once the cache is prepared, each run waits until less than 0.15 of a core has been busy over one second (up to ${String(o.idleWait)} s; ${p.idle.busyStarts === 0 ? "every run found a quiet second" : `${String(p.idle.busyStarts)} of ${String(p.idle.runs)} runs gave up waiting and started on a busy machine`}; ${p.idle.seconds.toFixed(0)} s of waiting in all), so a run does not start in the middle of other work. Work that starts during a run still shows in the "other work" figures.`
      : "- Runs start without waiting for a quiet machine (`--idle-wait 0`).",
    img.dense
      ? "- The image has no holes, so every tool reads all of it."
      : "- The image keeps the holes mke2fs left (its free space): `cp` and `qemu-img` skip them (SEEK_DATA / block status), make-stick reads them as zeros (no disk I/O, only the CPU for its zero-chunk check). `--dense` makes an image without holes.",
    "- make-stick uses a fast argon2id setting (`--kdf-memory 8192 --kdf-passes 1`) so key derivation (a fixed one-off cost of about a second at the defaults) does not blur the throughput.",
    mem.kind === "measured"
      ? `- Memory check: after those rounds, make-stick with its defaults runs once on \`image.raw\` and once on \`${scaledName}\`, prepared like every other run; its peak RSS and the stored-chunk count it prints give the growth per stored chunk, and the 20 GiB figure is arithmetic on those two runs, not a run.`
      : `- Memory check: skipped (${mem.why.replace(/\.$/, "")}).`,
    "- Commands, run as `/usr/bin/time -f '%M %U %S' -o FILE <command>`, each followed by `sync`:",
    "",
    "```sh",
    img.command.replace(/; cp .*/, ""),
    ...rows.map((r) => r.c.display),
    ...(mem.kind === "measured"
      ? [
          `# memory check: ${scaledName} (build-bench.ts writes it itself; these two lines give the same bytes)`,
          `cp --sparse=always image.raw ${scaledName}`,
          `for k in ${Array.from({ length: SCALE - 1 }, (_, i) => String(i + 1)).join(" ")}; do perl -e '${PERL_XOR}' $k < image.raw >> ${scaledName}; done`,
          mem.small.c.display,
          mem.big.c.display,
        ]
      : []),
    "```",
    "",
    `Rerun: \`npm run build && node dist/scripts/bench/build-bench.js --size ${o.sizeText} --fill ${o.fill} --rounds ${o.rounds} --levels ${o.levels.length > 0 ? o.levels.join(",") : '""'}${o.explore ? " --explore" : ""}${o.dense ? " --dense" : ""}${o.skipMemory ? " --skip-memory" : ""}${o.idleWait !== 120 ? ` --idle-wait ${String(o.idleWait)}` : ""}\` (as root for a cold cache; needs \`qemu-img\` from qemu-utils, \`mke2fs\`/\`dumpe2fs\` from e2fsprogs and \`/usr/bin/time\` from the Debian package \`time\`).`,
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

// ---------------------------------------------------------------- memory check run

/** make-stick with its defaults, once on the image and once on the SCALE× image (made or reused here). */
async function memoryCheck(
  o: Options,
  img: ImageInfo,
  paths: Paths,
  stickBytes: number,
  runOn: (c: Contender, image: string, what: string) => Promise<RunResult>,
): Promise<Memory> {
  const scaledPath = scaledImagePath(o);
  const cached = await cachedScaledImage(img, scaledPath);
  const fsInfo = await statfs(o.work);
  const free = fsInfo.bavail * fsInfo.bsize;
  // The scaled image (unless cached), its stick (about SCALE times the image's) and a margin.
  const need = (cached === undefined ? img.size * SCALE : 0) + stickBytes * SCALE * 1.1 + 512 * MiB;
  if (free < need) {
    const why = `the ${sizeText(img.size * SCALE)} image and its stick need about ${(need / GiB).toFixed(1)} GiB of free disk in \`${o.work}\`, and only ${(free / GiB).toFixed(1)} GiB were free; rerun with \`--work\` on a disk with more room.`;
    log(`memory check skipped: ${why}`);
    return { kind: "skipped", why };
  }
  let scaled: ScaledImage;
  if (cached !== undefined) {
    log(`using the cached image ${scaledPath}`);
    scaled = cached;
  } else {
    scaled = await makeScaledImage(img, scaledPath);
  }
  const one = async (name: string, what: string, image: string, imageBytes: number, key: string): Promise<MemRun | string> => {
    const c = makeStickContender({ ...paths, image, imageName: name }, key, o.threads, undefined);
    const res = await runOn(c, image, `memory check, ${sizeText(imageBytes)}`);
    const chunks = chunkStats(res.stdout);
    if (chunks === undefined) throw new Error(`${c.display} printed no chunk counts:\n${res.stdout}`);
    if (res.peakRssKiB === undefined) return "the peak RSS of make-stick could not be read.";
    return { name, what, imageBytes, c, res, rssKiB: res.peakRssKiB, chunks };
  };
  const small = await one("image.raw", `${sizeText(img.size)}: the image above`, img.path, img.size, "mem-x1");
  if (typeof small === "string") return { kind: "skipped", why: small };
  const big = await one(
    `image-x${String(SCALE)}.raw`,
    `${sizeText(scaled.size)}: the image + ${String(SCALE - 1)} XORed copies`,
    scaled.path,
    scaled.size,
    `mem-x${String(SCALE)}`,
  );
  if (typeof big === "string") return { kind: "skipped", why: big };
  return { kind: "measured", scaled, scaledCached: cached !== undefined, small, big };
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
  // Before anything runs: the commit (and uncommitted files) of the code being measured.
  const m = await machine(o.work);
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

  const paths: Paths = { image: img.path, imageName: "image.raw", keyFile: join(keyDir, "admin.key"), outDir };
  const list = contenders(o, paths);
  const rows: Row[] = list.map((c) => ({ c, runs: [] }));
  /** Runs one command on `image`, after dropping the page cache (cold) or reading the image into it (warm). */
  const idle: IdleStats = { runs: 0, seconds: 0, busyStarts: 0 };
  const runOn = async (c: Contender, image: string, what: string): Promise<RunResult> => {
    if (cache === "cold") await dropCaches();
    else warmImage(image);
    const w = await waitForIdle(o.idleWait * 1000);
    idle.runs += 1;
    idle.seconds += w.seconds;
    if (!w.idle) idle.busyStarts += 1;
    if (w.seconds > 2) log(`waited ${w.seconds.toFixed(0)} s for a quiet machine${w.idle ? "" : " (gave up: starting anyway)"}`);
    log(`${what}: ${c.display}`);
    const res = await runContender(c, useTime);
    log(`  ${res.seconds.toFixed(2)} s (sync ${res.syncSeconds.toFixed(2)} s), ${formatCell(res.storedBytes)} bytes stored (${formatCell(res.outputBytes)} in all), peak RSS ${res.peakRssKiB === undefined ? "n/a" : `${(res.peakRssKiB / 1024).toFixed(0)} MiB`}, steal ${res.stealSeconds === undefined ? "n/a" : res.stealSeconds.toFixed(1)} s, other CPU ${res.otherCpuSeconds === undefined ? "n/a" : res.otherCpuSeconds.toFixed(1)} s`);
    return res;
  };
  const runRow = async (r: Row, round: number): Promise<void> => {
    r.runs.push(await runOn(r.c, img.path, `round ${String(round + 1)}`));
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
  const extra: Contender[] = [];
  for (const level of [...new Set(o.levels)]) {
    if (level !== DEFAULT_LEVEL) extra.push(makeStickContender(paths, `stick-l${String(level)}`, o.threads, level));
  }
  if (o.explore && o.threads !== 1) extra.push(makeStickContender(paths, "stick-t1", 1, undefined));
  if (extra.length > 0) {
    log(`measuring the other make-stick settings: ${extra.map((c) => c.key).join(", ")}`);
    const extraRows: Row[] = extra.map((c) => ({ c, runs: [] }));
    await runRounds(extraRows);
    rows.push(...extraRows);
  }

  // what the disk must hold: the preallocated user log is sparse
  const stickBytes = median(byKey("stick").runs.map((r) => r.outputAllocatedBytes));
  const mem: Memory = o.skipMemory
    ? { kind: "skipped", why: "not run (--skip-memory)." }
    : await memoryCheck(o, img, paths, stickBytes, runOn);
  await rm(outDir, { recursive: true, force: true });

  const verdicts = rows.filter((r) => r.c.key.startsWith("stick")).map((r) => verdict(r, qcow2, img.size));
  const stickRow = byKey("stick");
  const stickStats = stickRow.runs[0]?.stdout.split("\n").find((l) => l.startsWith("image ")) ?? "";
  const benchSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const text = section({ o, m, img, rows, verdicts, cache, rss: rssMethod, startedAt, benchSeconds, imageCached: metaExisted, stickStats, explore: o.explore, mem, idle });
  await writeSection(o.out, SECTION, text);
  log(`wrote ${relative(process.cwd(), o.out) || o.out} in ${benchSeconds.toFixed(0)} s`);
  console.log(text);
}

await main();
