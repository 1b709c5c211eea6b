// The five cases of issue 5's slow-stick measurement: what each runs, and what each run starts
// from (a fresh overlay, an empty cache, no boot profile, ...).
import { mkdir, readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { run } from "../bench-util.js";

export type CaseKey = "a" | "b" | "c" | "d" | "e";

export interface BenchCase {
  key: CaseKey;
  title: string;
  /** stickvm's cases run the launcher and print --stats; QEMU's run QEMU alone. */
  stickvm: boolean;
  /** Before each run, untimed: puts the stick and the cache in the state the case measures. */
  prepare: () => Promise<void>;
  argv: string[];
  /** The untimed step as shell commands, for BENCHMARKS.md. */
  prepareShell: string[];
}

/** Where everything is: the stick's mount, the stick folder, the baseline's files on the stick, the host's. */
export interface CasePaths {
  stick: string;
  cacheDir: string;
  /** The qcow2 of the image, the kernel and the initrd, on the slow stick; the overlay goes next to them. */
  stickQcow2: string;
  stickKernel: string;
  stickInitrd: string;
  /** The raw image, kernel and initrd on the host's disk, and (e)'s overlay there. */
  hostImage: string;
  hostKernel: string;
  hostInitrd: string;
  hostOverlay: string;
}

export interface QemuSettings {
  /** What stickvm would pass for this host and the stick's policy (src/player/qemu-args.ts). */
  accelerators: string[];
  memoryMiB: number;
  cpus: number;
  sandbox: boolean;
  append: string;
}

/** The argv of a plain QEMU booting `disk` (qcow2) as the system disk the way stickvm boots its guest. */
export function qemuArgv(q: QemuSettings, disk: string, kernel: string, initrd: string): string[] {
  return [
    "qemu-system-x86_64", "-nodefaults", "-no-user-config", "-machine", "q35",
    ...q.accelerators.flatMap((a) => ["-accel", a]),
    "-m", String(q.memoryMiB), "-smp", String(q.cpus),
    ...(q.sandbox ? ["-sandbox", "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny"] : []),
    "-drive", `file=${disk.replaceAll(",", ",,")},format=qcow2,if=none,id=system`,
    "-device", "virtio-blk-pci,drive=system,serial=stickvm-system",
    "-kernel", kernel, "-initrd", initrd, "-append", q.append,
    "-nic", "none", "-display", "none", "-serial", "stdio",
  ];
}

/** A fresh qcow2 overlay over `backing`, so the guest's writes never reach the image. */
async function freshOverlay(overlay: string, backing: string, backingFormat: "qcow2" | "raw"): Promise<void> {
  await rm(overlay, { force: true });
  await run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", backingFormat, "-b", backing, overlay]);
}

async function emptyFolder(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
}

/** The stick's boot profile files (FORMAT.md: names that start with `boot-profile`). */
export async function removeBootProfile(stick: string): Promise<void> {
  for (const name of await readdir(stick)) {
    if (name.startsWith("boot-profile")) await rm(join(stick, name), { recursive: true, force: true });
  }
}

export function benchCases(p: CasePaths, q: QemuSettings, stickvm: string[]): BenchCase[] {
  const stickOverlay = join(p.stickQcow2, "..", "overlay.qcow2");
  const launcher = [...stickvm, "run", "--stick", p.stick, "--headless", "--cache-dir", p.cacheDir, "--stats", "--powerdown-timeout", "10"];
  return [
    {
      key: "e",
      title: "(e) QEMU, raw image on the host's disk (the floor)",
      stickvm: false,
      prepare: () => freshOverlay(p.hostOverlay, p.hostImage, "raw"),
      argv: qemuArgv(q, p.hostOverlay, p.hostKernel, p.hostInitrd),
      prepareShell: [`qemu-img create -q -f qcow2 -F raw -b ${p.hostImage} ${p.hostOverlay}`],
    },
    {
      key: "a",
      title: "(a) QEMU, qcow2 on the slow stick (baseline)",
      stickvm: false,
      prepare: () => freshOverlay(stickOverlay, p.stickQcow2, "qcow2"),
      argv: qemuArgv(q, stickOverlay, p.stickKernel, p.stickInitrd),
      prepareShell: [`qemu-img create -q -f qcow2 -F qcow2 -b ${p.stickQcow2} ${stickOverlay}`],
    },
    {
      key: "b",
      title: "(b) stickvm, empty host cache, no boot profile",
      stickvm: true,
      prepare: async () => {
        await removeBootProfile(p.stick);
        await emptyFolder(p.cacheDir);
      },
      argv: launcher,
      prepareShell: [`rm -rf ${p.stick}/boot-profile* ${p.cacheDir}`],
    },
    {
      key: "c",
      title: "(c) stickvm, empty host cache, with a boot profile",
      stickvm: true,
      prepare: () => emptyFolder(p.cacheDir),
      argv: launcher,
      prepareShell: [`rm -rf ${p.cacheDir}  # the boot profile stays`],
    },
    {
      key: "d",
      title: "(d) stickvm, warm host cache",
      stickvm: true,
      prepare: () => Promise.resolve(),
      argv: launcher,
      prepareShell: ["# nothing: the cache (and boot profile) the previous session left stay"],
    },
  ];
}
