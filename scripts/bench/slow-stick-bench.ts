#!/usr/bin/env node
// Slow-stick boot benchmark (issue 5, "Measure on a real slow stick"): a guest whose boot reads
// 200 MiB of real files scattered over a 2 GiB disk, booted from a loop device throttled to a
// cheap USB 2 stick, by plain QEMU from a qcow2 (the baseline), by stickvm with an empty cache
// (with and without a boot profile) and with a warm cache, and by QEMU from the host's own disk
// (the floor). Writes the "## Boot from a slow stick" section of BENCHMARKS.md.
//
// As root: npm run build && node dist/scripts/bench/slow-stick-bench.js [--runs 3] [--work DIR] [--idle-wait 15] [--out FILE]
// Not root, or no cgroup v1 blkio or loop devices: it says why and exits 0 without touching BENCHMARKS.md.
import { existsSync } from "node:fs";
import { copyFile, mkdir, rm, stat, writeFile } from "node:fs/promises";
import { freemem, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { ARGON2_DEFAULT, ARGON2_MIN } from "../../src/crypto/kdf.js";
import { hasBusyboxStatic } from "../../src/demo/busybox.js";
import { parseCapabilities } from "../../src/player/player-capabilities.js";
import { guestMemoryMiB } from "../../src/player/qemu-args.js";
import { cpuTicks, treeSize, USER_HZ, waitForIdle } from "./bench-run.js";
import { capture, dropCaches, machine, makeLog, median, run, writeSection } from "./bench-util.js";
import { kdfSeconds } from "./run-start.js";
import { timeBoot } from "./slow-stick/boot-timer.js";
import { benchCases, removeBootProfile, type BenchCase, type CasePaths, type QemuSettings } from "./slow-stick/cases.js";
import { buildBenchGuest, MARKER, READING_LINE } from "./slow-stick/guest.js";
import { SECTION, section, statsText, type CaseResult, type RunResult } from "./slow-stick/report.js";
import { makeSlowStick, slowStickUnsupported, type SlowStick } from "./slow-stick/slow-device.js";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const STICKVM = join(ROOT, "dist", "launcher", "stickvm.js");
const MAKE_STICK = join(ROOT, "dist", "scripts", "make-stick.js");
const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
/** A cheap USB 2 stick (issue 5): 25 MiB/s and 1,500 read IOPS. */
const READ_BPS = 25 * MiB;
const READ_IOPS = 1500;
const STICK_BYTES = 4 * GiB;
const CGROUP = "stickvm-slow-stick-bench";
const PASSPHRASE = "slow stick bench passphrase";
/** A 1 GiB guest holds the 200 MiB it reads in its page cache; one vCPU leaves the other core to the launcher (or QEMU's I/O). */
const POLICY = { memory: "1G", cpus: 1, network: "none", host: "trusted" } as const;
/** The quick argon2id the other benchmarks use: 8 MiB, one pass (ARGON2_MIN). */
const KDF_ARGS = ["--kdf-memory", String(ARGON2_MIN.memoryKiB), "--kdf-passes", String(ARGON2_MIN.passes)];
const BOOT_TIMEOUT_MS = 300_000;

const log = makeLog("slow-stick-bench");

interface Options {
  runs: number;
  work: string;
  idleWait: number;
  out: string;
}

function readOptions(): Options {
  const { values } = parseArgs({
    options: {
      runs: { type: "string", default: "3" },
      work: { type: "string", default: join(tmpdir(), "stickvm-slow-stick-bench") },
      "idle-wait": { type: "string", default: "15" },
      out: { type: "string", default: join(ROOT, "BENCHMARKS.md") },
    },
    strict: true,
  });
  const runs = Number(values.runs);
  const idleWait = Number(values["idle-wait"]);
  if (!Number.isInteger(runs) || runs < 1) throw new Error("--runs must be a whole number ≥ 1");
  if (!(idleWait >= 0)) throw new Error("--idle-wait must be a number of seconds ≥ 0");
  return { runs, work: values.work, idleWait, out: values.out };
}

/** Why the benchmark cannot run here, or undefined. */
function unsupported(): string | undefined {
  const why = slowStickUnsupported();
  if (why !== undefined) return why;
  for (const tool of ["qemu-system-x86_64", "qemu-img", "mke2fs", "dpkg-deb", "apt-get"]) {
    if (capture("sh", ["-c", `command -v ${tool}`]) === "unknown") return `${tool} is not installed (scripts/setup-debian.sh installs what stickvm needs)`;
  }
  if (!hasBusyboxStatic()) return "Debian's busybox-static is not installed";
  return undefined;
}

/** `make-stick profile` is the boot-profile feature's admin command: until it is built, case (c) cannot be measured. */
function hasProfileCommand(): boolean {
  return /^\s+profile\b/m.test(capture(process.execPath, [MAKE_STICK, "--help"]));
}

/** The `<group>.<name> <value>` lines `stickvm run --stats` prints at exit (cache, stick, profile, prefetch), by `group.name`. */
function parseStats(stdout: string): Record<string, string> {
  const stats: Record<string, string> = {};
  for (const m of stdout.matchAll(/^((?:cache|stick|profile|prefetch)\.\w+) (.*)$/gm)) if (m[1] !== undefined && m[2] !== undefined) stats[m[1]] = m[2].trim();
  return stats;
}

interface Setup {
  slow: SlowStick;
  paths: CasePaths;
  stickBuild: { seconds: number; summary: string };
  stickBytes: number;
  qcow2Bytes: number;
  qcow2Seconds: number;
}

/** The stick (make-stick build) and the baseline's qcow2, kernel and initrd, all on the slow stick. */
async function fillStick(o: Options, slow: SlowStick, guest: Awaited<ReturnType<typeof buildBenchGuest>>): Promise<Setup> {
  const keys = join(o.work, "keys");
  if (!existsSync(join(keys, "admin.key"))) await run([process.execPath, MAKE_STICK, "keygen", "--out", keys]);
  const policy = join(o.work, "policy.json");
  await writeFile(policy, `${JSON.stringify(POLICY, null, 2)}\n`);
  const recovery = join(o.work, "recovery-key.txt");
  await rm(recovery, { force: true });
  const stick = join(slow.mountPoint, "stick");
  log(`make-stick build onto the slow stick (${slow.loop})`);
  const built = await run([
    process.execPath, MAKE_STICK, "build", "--image", guest.image, "--out", stick, "--signing-key", join(keys, "admin.key"),
    "--user-size", "64M", "--local-size", "256M", "--policy", policy,
    "--boot-kernel", guest.kernel, "--boot-initrd", guest.initrd, "--boot-append", guest.append,
    ...KDF_ARGS, "--recovery-key-file", recovery,
  ], { STICKVM_PASSPHRASE: PASSPHRASE });
  const baseline = join(slow.mountPoint, "baseline");
  await mkdir(baseline);
  const stickQcow2 = join(baseline, "system.qcow2");
  log("qemu-img convert -O qcow2 onto the slow stick");
  const qcow2 = await run(["qemu-img", "convert", "-O", "qcow2", guest.image, stickQcow2]);
  const stickKernel = join(baseline, "kernel");
  const stickInitrd = join(baseline, "initrd.gz");
  await copyFile(guest.kernel, stickKernel);
  await copyFile(guest.initrd, stickInitrd);
  return {
    slow,
    paths: {
      stick,
      cacheDir: join(o.work, "host-cache"),
      stickQcow2,
      stickKernel,
      stickInitrd,
      hostImage: guest.image,
      hostKernel: guest.kernel,
      hostInitrd: guest.initrd,
      hostOverlay: join(o.work, "host-overlay.qcow2"),
    },
    stickBuild: { seconds: built.seconds, summary: built.stdout.split("\n").find((l) => l.startsWith("image ")) ?? "" },
    stickBytes: (await treeSize(stick)).apparent,
    qcow2Bytes: (await stat(stickQcow2)).size,
    qcow2Seconds: qcow2.seconds,
  };
}

/** What stickvm passes QEMU for this host and the policy: its accelerators, memory, CPUs and sandbox (src/player/qemu-args.ts). */
async function qemuSettings(append: string): Promise<QemuSettings> {
  const host = JSON.parse((await run([process.execPath, STICKVM, "host", "--json"])).stdout) as { accelerators: string[] };
  return {
    accelerators: host.accelerators,
    memoryMiB: guestMemoryMiB(GiB, freemem()),
    cpus: POLICY.cpus,
    sandbox: parseCapabilities(capture("qemu-system-x86_64", ["-help"])).sandbox,
    append,
  };
}

/** One timed boot from a cold page cache, with the bytes the group read from the stick. */
async function measure(c: BenchCase, s: Setup, o: Options, signal: AbortSignal): Promise<RunResult> {
  await c.prepare();
  if (!(await dropCaches())) throw new Error("cannot write /proc/sys/vm/drop_caches");
  const idle = await waitForIdle(o.idleWait * 1000);
  const before = await s.slow.readBytes();
  const [ticks0, cpu0] = [await cpuTicks(), await s.slow.cpuSeconds()];
  let atMarker: Promise<number> | undefined;
  let atStart: Promise<number> | undefined;
  const t = await timeBoot({
    argv: s.slow.throttled(c.argv),
    env: c.stickvm ? { STICKVM_PASSPHRASE: PASSPHRASE } : {},
    marker: MARKER,
    reading: READING_LINE,
    ...(c.stickvm ? { started: /the guest is running/, onStarted: () => { atStart = s.slow.readBytes(); } } : {}),
    onMarker: () => { atMarker = s.slow.readBytes(); },
    timeoutMs: BOOT_TIMEOUT_MS,
    signal,
  });
  const after = await s.slow.readBytes();
  const [ticks1, cpu1] = [await cpuTicks(), await s.slow.cpuSeconds()];
  const ownCpu = cpu0 === undefined || cpu1 === undefined ? undefined : cpu1 - cpu0;
  const r: RunResult = {
    seconds: t.seconds,
    endSeconds: t.endSeconds,
    readingAt: t.readingAt,
    startedAt: t.startedAt,
    bytesToStart: atStart === undefined ? undefined : (await atStart) - before,
    bytesToMarker: (await (atMarker ?? Promise.resolve(after))) - before,
    bytesTotal: after - before,
    stats: c.stickvm ? parseStats(t.stdout) : undefined,
    cpuSeconds: ownCpu,
    otherCpuSeconds: ticks0 === undefined || ticks1 === undefined || ownCpu === undefined ? undefined : Math.max(0, (ticks1.busy - ticks0.busy) / USER_HZ - ownCpu),
    waitedSeconds: idle.seconds,
    quiet: idle.idle,
  };
  const stats = r.stats === undefined ? "" : `; ${statsText(r.stats)}`;
  const cpu = r.cpuSeconds === undefined ? "" : `; CPU ${r.cpuSeconds.toFixed(1)} s, other work ${r.otherCpuSeconds?.toFixed(1) ?? "?"} s`;
  log(`  ${c.key}: ${r.seconds.toFixed(2)} s to the marker, ${(r.bytesToMarker / MiB).toFixed(1)} MiB from the stick by then (${(r.bytesTotal / MiB).toFixed(1)} MiB in all)${stats}${cpu}`);
  return r;
}

/** Records the stick's boot profile the way an admin would (untimed): `make-stick profile --until-line MARKER`. */
async function recordProfile(s: Setup, o: Options): Promise<number> {
  await removeBootProfile(s.paths.stick);
  // a cache folder of its own, removed after, so the runs start from the cache state they measure
  const cache = join(o.work, "profile-cache");
  try {
    const r = await run([process.execPath, MAKE_STICK, "profile", "--stick", s.paths.stick, "--until-line", MARKER, "--cache-dir", cache], { STICKVM_PASSPHRASE: PASSPHRASE });
    log(`  ${r.stdout.trim()}`);
    return r.seconds;
  } finally {
    await rm(cache, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const o = readOptions();
  const why = unsupported();
  if (why !== undefined) {
    log(`skipped: ${why}; the "${SECTION.slice(3)}" section of ${o.out} is left as it was`);
    return;
  }
  for (const f of [STICKVM, MAKE_STICK]) if (!existsSync(f)) throw new Error(`${f} is missing: run npm run build first`);
  const startedAt = new Date();
  const t0 = process.hrtime.bigint();
  const abort = new AbortController();
  for (const sig of ["SIGINT", "SIGTERM"] as const) {
    process.on(sig, () => {
      log(`${sig}: stopping, then removing the slow stick`);
      abort.abort();
    });
  }
  await mkdir(o.work, { recursive: true });
  const m = await machine(ROOT);
  const guest = await buildBenchGuest(join(o.work, "guest"), log);
  const qemu = await qemuSettings(guest.append);
  const kdf = { quick: median([await kdfSeconds(ARGON2_MIN), await kdfSeconds(ARGON2_MIN), await kdfSeconds(ARGON2_MIN)]), default: await kdfSeconds(ARGON2_DEFAULT) };
  const profileCommand = hasProfileCommand();
  const slow = await makeSlowStick({
    backing: join(o.work, "stick.img"),
    bytes: STICK_BYTES,
    mountPoint: join(o.work, "mnt"),
    group: CGROUP,
    readBytesPerSecond: READ_BPS,
    readIops: READ_IOPS,
  });
  let setup: Setup;
  const results: CaseResult[] = [];
  let profileSeconds: number | undefined;
  try {
    setup = await fillStick(o, slow, guest);
    for (const c of benchCases(setup.paths, qemu, [process.execPath, STICKVM])) {
      if (abort.signal.aborted) throw new Error("interrupted");
      if (c.key === "c") {
        if (!profileCommand) {
          log("case (c) not measured: make-stick profile is not built yet");
          results.push({ c, runs: [], notMeasured: "make-stick profile is not built yet" });
          continue;
        }
        log("recording the boot profile (make-stick profile, untimed)");
        profileSeconds = await recordProfile(setup, o);
      }
      log(`${c.title}: ${String(o.runs)} runs`);
      const runs: RunResult[] = [];
      for (let i = 0; i < o.runs; i++) runs.push(await measure(c, setup, o, abort.signal));
      results.push({ c, runs });
    }
  } finally {
    await slow.close();
    await rm(join(o.work, "host-overlay.qcow2"), { force: true });
    await rm(join(o.work, "host-cache"), { recursive: true, force: true });
  }
  const benchSeconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const text = section({
    m, startedAt, benchSeconds, o, guest, qemu, kdf, results, profileSeconds,
    setup: { ...setup, device: slow.device, loop: slow.loop },
    limits: { readBps: READ_BPS, readIops: READ_IOPS, stickBytes: STICK_BYTES, group: CGROUP },
    policy: POLICY,
    root: ROOT,
    commands: { stickvm: STICKVM, makeStick: MAKE_STICK, kdfArgs: KDF_ARGS },
  });
  await writeSection(o.out, SECTION, text);
  log(`wrote ${o.out} in ${(benchSeconds / 60).toFixed(1)} min`);
  console.log(text);
}

await main();
