// The "## Boot from a slow stick" section of BENCHMARKS.md: verdicts, numbers, what each case
// includes, the exact commands, the guest and the machine.
import { dirname } from "node:path";
import { capture, firstLine, median, type Machine } from "../bench-util.js";
import type { BenchCase, CaseKey, CasePaths, QemuSettings } from "./cases.js";
import { IMAGE_BYTES, MARKER, READING_LINE, type BenchGuest } from "./guest.js";

export const SECTION = "## Boot from a slow stick";
const MiB = 1024 * 1024;
/** Issue 5's targets: (c) at least this many times faster than (a); (d) within this factor of (e). */
const PROFILE_SPEEDUP = 2;
const WARM_SLOWDOWN = 1.2;
/** Other work above this share of the machine's CPU during a run makes that run's time suspect. */
const BUSY_SHARE = 0.1;

export interface RunResult {
  /** Seconds from spawn to the marker; to the guest's "reading" line; to stickvm's "the guest is running". */
  seconds: number;
  /** Seconds from spawn to the command's end (the span the CPU figures cover). */
  endSeconds: number;
  readingAt: number | undefined;
  startedAt: number | undefined;
  /** Bytes the cgroup read from the stick by stickvm's "the guest is running" (undefined for QEMU), by the marker, and by the end of the run. */
  bytesToStart: number | undefined;
  bytesToMarker: number;
  bytesTotal: number;
  /** stickvm's `--stats` (cache.<name> → value); undefined for QEMU's cases. */
  stats: Record<string, string> | undefined;
  /** CPU seconds of the case's processes (cpuacct), and of everything else on the machine meanwhile; undefined without cpuacct. */
  cpuSeconds: number | undefined;
  otherCpuSeconds: number | undefined;
  /** The wait for a quiet machine before the run, and whether it found one. */
  waitedSeconds: number;
  quiet: boolean;
}

export interface CaseResult {
  c: BenchCase;
  runs: RunResult[];
  notMeasured?: string;
}

export interface ReportInput {
  m: Machine;
  startedAt: Date;
  benchSeconds: number;
  o: { runs: number; work: string; idleWait: number };
  guest: BenchGuest;
  qemu: QemuSettings;
  /** argon2id seconds: the stick's quick parameters, and the default ones. */
  kdf: { quick: number; default: number };
  results: CaseResult[];
  profileSeconds: number | undefined;
  setup: {
    paths: CasePaths;
    stickBuild: { seconds: number; summary: string };
    stickBytes: number;
    qcow2Bytes: number;
    qcow2Seconds: number;
    device: string;
    loop: string;
  };
  limits: { readBps: number; readIops: number; stickBytes: number; group: string };
  policy: Readonly<Record<string, string | number>>;
  /** The repository's folder (ends in /): commands are shown relative to it. */
  root: string;
  commands: { stickvm: string; makeStick: string; kdfArgs: string[] };
}

const s2 = (x: number): string => x.toFixed(2);
const mib = (bytes: number): string => (bytes / MiB).toFixed(1);
const pass = (ok: boolean): string => (ok ? "**PASS**" : "**FAIL**");

/** A word as a POSIX shell reads it back. */
function quote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", `'\\''`)}'`;
}

function medianOf(r: CaseResult | undefined, f: (x: RunResult) => number | undefined): number | undefined {
  const xs = (r?.runs ?? []).map(f).filter((x): x is number => x !== undefined);
  return xs.length === 0 ? undefined : median(xs);
}

/** One run's `--stats`, short: the cache's hits and misses, stickvm's own count of stick reads, the prefetch. */
export function statsText(s: Readonly<Record<string, string>>): string {
  const n = (k: string): string => s[k] ?? "?";
  const m = (k: string): string => (s[k] === undefined ? "?" : mib(Number(s[k])));
  const prefetch = s["prefetch.stored"] === undefined ? "" : `, prefetch ${n("prefetch.stored")} chunks in ${n("prefetch.reads")} reads (${m("prefetch.readBytes")} MiB)${s["prefetch.complete"] === "false" ? ", stopped early" : ""}`;
  return `${n("cache.hits")} hits (${m("cache.bytesFromCache")} MiB) / ${n("cache.misses")} misses (${m("cache.bytesFromStick")} MiB); stick ${n("stick.reads")} reads (${m("stick.bytes")} MiB)${prefetch}`;
}

function statsCell(r: CaseResult): string {
  if (!r.c.stickvm) return "n/a (QEMU alone)";
  return r.runs.map((x) => (x.stats === undefined ? "?" : statsText(x.stats))).join("<br>");
}

/** Whether other work crowded the runs: a plain note when a few runs were, a caution when the typical run was. */
function crowdedLine(shares: readonly number[]): string {
  if (shares.length === 0) return "Other work on the machine during the runs was not measured (no cpuacct cgroup).";
  const crowded = shares.filter((x) => x > BUSY_SHARE).length;
  const limit = `${String(BUSY_SHARE * 100)}% of its CPU`;
  if (crowded === 0) return `Other work on the machine stayed under ${limit} during every run.`;
  const counts = `during ${String(crowded)} of ${String(shares.length)} runs (median share over all runs ${(median(shares) * 100).toFixed(0)}%, the most ${(Math.max(...shares) * 100).toFixed(0)}%; per run below)`;
  if (median(shares) <= BUSY_SHARE) return `Other work on the machine took more than ${limit} ${counts}.`;
  return `**Caution:** other work on the machine took more than ${limit} ${counts}: the times are slowed by it and the ratios uncertain; rerun on a quiet machine.`;
}

export function section(p: ReportInput): string {
  const by = (k: CaseKey): CaseResult | undefined => p.results.find((r) => r.c.key === k && r.runs.length > 0);
  const med = (k: CaseKey): number | undefined => medianOf(by(k), (x) => x.seconds);
  const [a, c, d, e] = [med("a"), med("c"), med("d"), med("e")];
  const cNote = p.results.find((r) => r.c.key === "c")?.notMeasured;
  const verdicts = [
    `| (c) stickvm, empty cache, with a boot profile, at least ${String(PROFILE_SPEEDUP)}× faster than (a) QEMU booting the qcow2 on the stick | ${
      a !== undefined && c !== undefined ? `(a) ÷ (c) = ${s2(a / c)}× | ${pass(a / c >= PROFILE_SPEEDUP)}` : `— | not measured: ${cNote ?? "no runs"}`
    } |`,
    `| (d) stickvm, warm cache, within ${String(WARM_SLOWDOWN)}× of (e) QEMU booting the raw image on the host's disk | ${
      d !== undefined && e !== undefined ? `(d) ÷ (e) = ${s2(d / e)}× | ${pass(d / e <= WARM_SLOWDOWN)}` : "— | not measured"
    } |`,
  ];
  const rows = p.results.map((r) => {
    if (r.runs.length === 0) return `| ${r.c.title} | not measured: ${r.notMeasured ?? "no runs"} | | | | | | | | | | |`;
    const x = medianOf(r, (y) => y.seconds) ?? Number.NaN;
    const read = medianOf(r, (y) => (y.readingAt === undefined ? undefined : y.seconds - y.readingAt));
    const started = medianOf(r, (y) => y.startedAt);
    const cpu = medianOf(r, (y) => y.cpuSeconds);
    const toStart = medianOf(r, (y) => y.bytesToStart);
    return `| ${r.c.title} | ${r.runs.map((y) => s2(y.seconds)).join(", ")} | **${s2(x)}** | ${a === undefined ? "—" : `${s2(x / a)}×`} | ${e === undefined ? "—" : `${s2(x / e)}×`} | ${read === undefined ? "—" : s2(read)} | ${started === undefined ? "—" : s2(started)} | ${toStart === undefined ? "—" : mib(toStart)} | ${mib(medianOf(r, (y) => y.bytesToMarker) ?? 0)} | ${mib(medianOf(r, (y) => y.bytesTotal) ?? 0)} | ${cpu === undefined ? "—" : cpu.toFixed(1)} | ${statsCell(r)} |`;
  });
  const all = p.results.flatMap((r) => r.runs);
  const shares = all.flatMap((x) => (x.otherCpuSeconds === undefined ? [] : [x.otherCpuSeconds / (p.m.cores * x.endSeconds)]));
  const busy = all.filter((x) => !x.quiet).length;
  const waited = all.reduce((t, x) => t + x.waitedSeconds, 0);
  const g = p.guest;
  const work = p.o.work;
  const guestDir = dirname(g.image);
  const short = (text: string): string => text.replaceAll(guestDir, "$GUEST").replaceAll(work, "$WORK").replaceAll(p.root, "");
  const cmd = (argv: readonly string[]): string => short(argv.map(quote).join(" "));
  const profileCmd = cmd(["node", p.commands.makeStick, "profile", "--stick", p.setup.paths.stick, "--until-line", MARKER, "--cache-dir", `${work}/profile-cache`]);
  const inGroup = `sh -c 'echo $$ > "$0" && echo $$ > "$1" && shift && exec "$@"' /sys/fs/cgroup/blkio/${p.limits.group}/cgroup.procs /sys/fs/cgroup/cpuacct/${p.limits.group}/cgroup.procs`;
  const out = [
    SECTION,
    "",
    `_Written by scripts/bench/slow-stick-bench.ts (\`npm run bench\`; alone: \`npm run bench:slow-stick\`) on ${p.startedAt.toISOString().slice(0, 16).replace("T", " ")} UTC; the whole run took ${(p.benchSeconds / 60).toFixed(1)} min, of which building the stick on the slow stick took ${p.setup.stickBuild.seconds.toFixed(0)} s and the qcow2 ${p.setup.qcow2Seconds.toFixed(0)} s (the guest itself is built once, in ${g.info.buildSeconds.toFixed(0)} s, and cached)._`,
    "",
    `Issue 5: boot from a cheap USB stick nearly as fast as from the host's own disk, measured on a real slow device. The stick is a ${String(p.limits.stickBytes / 1024 ** 3)} GiB file on the host's disk behind a loop device (${p.setup.loop}, ext4, mounted), whose reads a cgroup v1 blkio group throttles to ${String(p.limits.readBps / MiB)} MiB/s and ${String(p.limits.readIops)} read IOPS, a cheap USB 2 stick. The guest's boot reads ${String(g.info.readFiles)} real files (${mib(g.info.readBytes)} MiB) scattered over a ${String(IMAGE_BYTES / MiB)} MiB ext4 system disk, in the same shuffled order every run, then prints \`${MARKER}\` on its console and powers off. Each case boots ${p.o.runs === 1 ? "once" : `${String(p.o.runs)} times`} from a cold page cache; times are from spawning the command to that line, medians in bold.`,
    "",
    "### Verdict",
    "",
    "| target | measured | verdict |",
    "|---|---:|---|",
    ...verdicts,
    "",
    crowdedLine(shares),
    "",
    "### Numbers",
    "",
    "| case | runs: s to the marker | median s | vs (a) | vs (e) | guest's read phase, median s | to \"the guest is running\", median s | MiB read from the stick by \"the guest is running\" (median) | MiB read from the stick by the marker (median) | MiB read from the stick in the whole run (median) | CPU s of the case's processes (median) | stickvm `--stats` per run: host cache hits / misses; stick reads; boot prefetch |",
    "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ...rows,
    "",
    `CPU seconds everything else on the machine used during each run (all busy time in \`/proc/stat\` less the case's own, from a cpuacct group it runs in; a run of T seconds has ${String(p.m.cores)}·T to give; large values mean other work competed for the cores and slowed that run): ${p.results.filter((r) => r.runs.length > 0).map((r) => `(${r.c.key}) ${r.runs.map((x) => x.otherCpuSeconds?.toFixed(1) ?? "?").join("/")}`).join("; ")}.`,
    "",
    "### What each case includes",
    "",
    `- Every case: spawning the command (through \`sh\`, which puts itself in the throttled group and execs it, so every process and thread it starts reads the stick throttled), QEMU's start, the guest's kernel and busybox initramfs (modules, finding the disk by its serial \`stickvm-system\`, mounting it), and its \`/sbin/init\` reading the files with one \`xargs cat\` (the "read phase", from the guest's \`${READING_LINE}\` line to the marker, both stamped as they reach the host). QEMU: ${p.qemu.accelerators.join(", ")} (no usable KVM here), q35, ${String(p.qemu.memoryMiB)} MiB, ${String(p.qemu.cpus)} vCPU, kernel command line \`${p.qemu.append}\`: what stickvm passes for this host and the stick's policy \`${JSON.stringify(p.policy)}\`.`,
    `- (a) The baseline: the host's \`qemu-system-x86_64\` alone, booting the image as a plain qcow2 (\`qemu-img convert -O qcow2\`, ${mib(p.setup.qcow2Bytes)} MiB, uncompressed) on the slow stick through a fresh qcow2 overlay there for the guest's writes, with QEMU's default cache mode (the host page cache, dropped before each run). Its kernel (${mib(g.info.kernelBytes)} MiB: Debian's vmlinux, uncompressed, which boots fastest under TCG) and initrd are read from the stick too, as stickvm reads its boot files from the stick.`,
    `- (b), (c), (d) stickvm: \`node dist/launcher/stickvm.js run --headless\` (Node's start, the launcher's host checks, unlocking the stick, checking its signed manifest, decoding the boot files from the stick, the NBD server, then QEMU on the NBD exports, with the user disk on the stick and the local disk and volatile system changes on the host). Unlocking runs argon2id with the quick parameters this stick was built with (\`${p.commands.kdfArgs.join(" ")}\`: ${(p.kdf.quick * 1000).toFixed(0)} ms here); a stick with the default parameters (m=${String(64)} MiB, t=3) would add about ${s2(p.kdf.default - p.kdf.quick)} s to every stickvm time. The stick was built by \`make-stick build\` (${p.setup.stickBuild.summary}; ${mib(p.setup.stickBytes)} MiB on the stick). The host cache folder (\`--cache-dir\`) and the run and session folders are on the host's disk; the policy says \`host: trusted\`, so the cache survives a session.`,
    `  - (b) Before each run the stick's \`boot-profile*\` files and the whole cache folder are removed (every session records a profile, so each run would otherwise find the previous one's).`,
    p.profileSeconds !== undefined
      ? `  - (c) Once before its runs, untimed: \`make-stick profile --until-line '${MARKER}'\` with a cache folder of its own, removed after (${p.profileSeconds.toFixed(0)} s); before each run the cache folder is emptied and the profile kept (each session records a newer one, from its own reads).`
      : `  - (c) Not measured: ${cNote ?? "no runs"}. The script runs it as soon as \`make-stick profile\` exists: once, untimed, \`make-stick profile --until-line '${MARKER}'\`, then before each run the cache folder is emptied and the profile kept.`,
    "  - (d) Nothing is removed: the first run finds the cache the last run before it left (that of (c), or of (b) when (c) is not measured), each later one the previous (d) run's.",
    "- (e) The floor: the same QEMU booting the raw image on the host's own disk through a fresh qcow2 overlay there (the guest mounts its root read-write, and the cached image must stay as built); kernel and initrd from the host's disk.",
    `- Bytes from the stick: the group's \`blkio.throttle.io_service_bytes\`, its Read line for ${p.setup.device}, before the run, at the marker and at the end: every read of the loop device by a process in the group (launcher threads, QEMU), file system metadata and the host kernel's read-ahead included. Writes to the stick are neither throttled nor counted (cgroup v1 charges buffered writes to the flusher, not the writer). The whole-run figure adds the guest's power-off and the launcher's closing; for (e) both must be 0. stickvm's own \`stick.bytes\` (in \`--stats\`) counts its reads of pack records (system disk, boot files, prefetch); the cgroup sees everything besides: the header, key slots, manifest and chunk index read at unlock, the user log, and whatever the host kernel reads ahead around stickvm's reads (a warm run, which reads no packs, shows the first two).`,
    `- Page cache: \`sync; echo 3 > /proc/sys/vm/drop_caches\` before every run, so every case starts cold: the stick, the host cache, the host's image, and the node, QEMU and library files too. ${
      p.o.idleWait > 0
        ? `Each run then waited up to ${String(p.o.idleWait)} s for a quiet second (under 0.15 of a core busy): ${busy === 0 ? "every run found one" : `${String(busy)} of ${String(all.length)} runs started on a busy machine`}, ${waited.toFixed(0)} s of waiting in all.`
        : "Runs did not wait for a quiet machine (`--idle-wait 0`)."
    }`,
    "",
    "### Commands",
    "",
    "```sh",
    `WORK=${work}`,
    `GUEST=${short(guestDir)}  # the guest's build (kernel, initrd.gz, system.img)`,
    `# the slow stick (${p.setup.loop} was ${p.setup.device})`,
    `truncate -s ${String(p.limits.stickBytes / 1024 ** 3)}G $WORK/stick.img && losetup --find --show $WORK/stick.img`,
    `mkfs.ext4 -q -F -L slowstick ${p.setup.loop} && mount ${p.setup.loop} $WORK/mnt`,
    `mkdir /sys/fs/cgroup/blkio/${p.limits.group} /sys/fs/cgroup/cpuacct/${p.limits.group}`,
    `echo "${p.setup.device} ${String(p.limits.readBps)}" > /sys/fs/cgroup/blkio/${p.limits.group}/blkio.throttle.read_bps_device`,
    `echo "${p.setup.device} ${String(p.limits.readIops)}" > /sys/fs/cgroup/blkio/${p.limits.group}/blkio.throttle.read_iops_device`,
    "# the stick and the baseline's files on it (STICKVM_PASSPHRASE set)",
    cmd(["node", p.commands.makeStick, "build", "--image", g.image, "--out", p.setup.paths.stick, "--signing-key", `${work}/keys/admin.key`, "--user-size", "64M", "--local-size", "256M", "--policy", `${work}/policy.json`, "--boot-kernel", g.kernel, "--boot-initrd", g.initrd, "--boot-append", g.append, ...p.commands.kdfArgs, "--recovery-key-file", `${work}/recovery-key.txt`]),
    cmd(["qemu-img", "convert", "-O", "qcow2", g.image, p.setup.paths.stickQcow2]),
    cmd(["cp", g.kernel, g.initrd, `${p.setup.paths.stickKernel.slice(0, p.setup.paths.stickKernel.lastIndexOf("/"))}/`]),
    "# every run: the case's preparation, then",
    "sync; echo 3 > /proc/sys/vm/drop_caches",
    `# and the command, in the group: ${inGroup} COMMAND…`,
    ...p.results.flatMap((r) => [
      `# ${r.c.title}`,
      ...(r.c.key === "c" ? [`# once, untimed: ${profileCmd}; then before each run:`] : []),
      ...r.c.prepareShell.map(short),
      cmd(r.c.argv.map((x) => (x === process.execPath ? "node" : x))),
    ]),
    "# afterwards",
    `umount $WORK/mnt; losetup -d ${p.setup.loop}; rmdir /sys/fs/cgroup/blkio/${p.limits.group} /sys/fs/cgroup/cpuacct/${p.limits.group}`,
    "```",
    "",
    "(b), (c) and (d) run the same command: only the state of the stick and the cache before the run differs.",
    "",
    "### Guest",
    "",
    `- Kernel: Debian's \`${g.info.kernelPackage}\` (\`apt-get download\`), its vmlinux booted directly; initramfs: busybox-static and the virtio and ext4 modules, with the demo guest's \`src/demo/guest/initramfs-init.sh\`.`,
    `- System disk: a ${String(IMAGE_BYTES / MiB)} MiB ext4 image (\`mke2fs -d\`) of real files copied from this machine (${g.info.staged.sources.map((x) => `\`${x}\``).join(", ")}, walked in sorted order, as build-bench's): ${String(g.info.staged.files)} files, ${String(g.info.staged.symlinks)} symlinks, ${mib(g.info.staged.bytes)} MiB of file blocks. Its \`/sbin/init\` reads the ${String(g.info.readFiles)} files (${mib(g.info.readBytes)} MiB) that \`/bench/read-order\` lists, ordered by SHA-256 of a fixed seed and the path (any files, any size, wherever mke2fs put them; a file that would take the total more than 4 MiB past 200 MiB is passed over), with \`xargs cat > /dev/null\`, then prints the marker and runs \`poweroff -f\`.`,
    `- Built once into \`$WORK/guest\`, keyed by a hash of everything that goes in; rerun: \`npm run build && node dist/scripts/bench/slow-stick-bench.js --runs ${String(p.o.runs)}\` as root.`,
    "",
    "### Machine",
    "",
    `- CPU: ${p.m.cpu}, ${String(p.m.cores)} cores; RAM ${p.m.ram}`,
    `- OS: ${p.m.os}; kernel ${p.m.kernel}`,
    `- Node ${p.m.node}; ${firstLine(capture("qemu-system-x86_64", ["--version"]))}`,
    `- stickvm commit ${p.m.commit}`,
    "",
  ];
  return out.join("\n");
}
