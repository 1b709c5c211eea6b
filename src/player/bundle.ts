import { createHash } from "node:crypto";
import { mkdir, readdir, readFile, realpath, stat } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { fileError, MissingToolError, StickvmError, UsageError } from "../errors/errors.js";
import { syncFolder, writeNewFileDurably } from "../util/durable-file.js";
import { runTool } from "../util/run-tool.js";
import { findOnPath } from "./find-player.js";
import { encodePlayerManifest, PLAYER_MANIFEST, PLAYER_MANIFEST_VERSION, PLAYER_TARGETS, PLAYERS_DIR, type PlayerFile, type PlayerManifest, type PlayerTarget } from "./player-manifest.js";

/** `--player linux-x64=host`: which player to put on the stick, and where it comes from. */
export interface PlayerSpec {
  target: PlayerTarget;
  source: "host";
}

export function parsePlayerSpec(text: string): PlayerSpec {
  const [target, source] = text.split("=");
  if (!PLAYER_TARGETS.includes(target as PlayerTarget) || source !== "host") {
    throw new UsageError(`--player ${text}: the form is <os>-<arch>=host, and only ${PLAYER_TARGETS.map((t) => `${t}=host`).join(", ")} can be bundled so far`);
  }
  return { target: target as PlayerTarget, source };
}

/** Where Debian's QEMU keeps its modules and firmware (DESIGN section 8). */
export const DEBIAN_QEMU = {
  moduleDir: "/usr/lib/x86_64-linux-gnu/qemu",
  firmwareDirs: ["/usr/share/qemu", "/usr/share/seabios"],
};

export interface HostBundleOptions {
  /** The QEMU to bundle; default qemu-system-x86_64 from PATH. */
  qemu?: string;
  moduleDir?: string;
  firmwareDirs?: string[];
  platform?: NodeJS.Platform;
  arch?: string;
}

interface Copy {
  from: string;
  /** Relative to the player's folder. */
  to: string;
  executable: boolean;
}

/** What a bundle will copy, found before anything is written (so a missing library fails the build before it starts). */
export interface BundlePlan {
  target: PlayerTarget;
  qemuVersion: string;
  copies: Copy[];
  /** The loader's copy, relative to the player's folder. */
  loader: string;
  firmwareDirs: string[];
}

const LOADER_DIR = "lib";

/** Plans bundling this machine's QEMU: the binary, every library ldd names for it and its modules (the loader too), the modules, the firmware. */
export async function planHostBundle(spec: PlayerSpec, o: HostBundleOptions = {}): Promise<BundlePlan> {
  const platform = o.platform ?? process.platform;
  const arch = o.arch ?? process.arch;
  if (`${platform}-${arch}` !== spec.target) throw new UsageError(`--player ${spec.target}=host needs a ${spec.target} build machine; this one is ${platform}-${arch}`);
  const qemu = o.qemu ?? findOnPath("qemu-system-x86_64", process.env.PATH ?? "");
  if (qemu === undefined) throw new MissingToolError("qemu-system-x86_64", "qemu-system-x86", "bundle the player (--player linux-x64=host)");
  const version = await runTool(qemu, ["--version"], { debianPackage: "qemu-system-x86", purpose: "bundle the player" });
  if (version.code !== 0) throw new StickvmError("MISSING_TOOL", `${qemu} --version failed: ${version.stderr}`);
  const modules = await listModules(o.moduleDir ?? DEBIAN_QEMU.moduleDir);
  const libraries = new Map<string, string>();
  let loader: string | undefined;
  for (const file of [qemu, ...modules]) {
    const found = parseLdd(await ldd(file), file);
    for (const [name, path] of found.libraries) libraries.set(name, path);
    loader ??= found.loader;
  }
  if (loader === undefined) throw new StickvmError("MISSING_TOOL", `ldd names no dynamic loader for ${qemu}: a static QEMU needs no bundling of libraries, but this build does not handle one`);
  const loaderCopy = `${LOADER_DIR}/${basename(loader)}`;
  const copies: Copy[] = [
    { from: qemu, to: "bin/qemu-system-x86_64", executable: true },
    { from: loader, to: loaderCopy, executable: true },
    ...[...libraries].map(([name, from]) => ({ from, to: `${LOADER_DIR}/${name}`, executable: false })),
    ...modules.map((from) => ({ from, to: `modules/${basename(from)}`, executable: false })),
  ];
  const firmwareDirs: string[] = [];
  for (const dir of o.firmwareDirs ?? DEBIAN_QEMU.firmwareDirs) {
    const to = `firmware/${basename(dir)}`;
    if (firmwareDirs.includes(to)) throw new UsageError(`two firmware folders are named ${basename(dir)}`);
    firmwareDirs.push(to);
    for (const file of await filesUnder(dir)) copies.push({ from: join(dir, file), to: `${to}/${file}`, executable: false });
  }
  return { target: spec.target, qemuVersion: version.stdout.split("\n")[0] ?? "", copies, loader: loaderCopy, firmwareDirs };
}

/** Writes `players/<target>/` into the stick: every file created new and synced, player.json last. */
export async function writeBundle(plan: BundlePlan, stickDir: string): Promise<PlayerManifest> {
  const root = join(stickDir, PLAYERS_DIR, plan.target);
  const files: PlayerFile[] = [];
  const folders = new Set<string>();
  for (const c of plan.copies) {
    const to = join(root, c.to);
    if (!folders.has(dirname(to))) {
      await mkdir(dirname(to), { recursive: true }).catch((e: unknown) => {
        throw fileError(e, "create", dirname(to));
      });
      folders.add(dirname(to));
    }
    const data = await readFile(c.from).catch((e: unknown) => {
      throw fileError(e, "read", c.from);
    });
    await writeNewFileDurably(to, data, c.executable ? 0o755 : 0o644);
    files.push({ path: c.to, size: data.length, sha256: createHash("sha256").update(data).digest("hex") });
  }
  const manifest: PlayerManifest = {
    version: PLAYER_MANIFEST_VERSION,
    target: plan.target,
    qemuVersion: plan.qemuVersion,
    loader: plan.loader,
    libraryDir: LOADER_DIR,
    binary: "bin/qemu-system-x86_64",
    moduleDir: "modules",
    firmwareDirs: plan.firmwareDirs,
    files,
  };
  for (const folder of folders) await syncFolder(folder);
  await writeNewFileDurably(join(root, PLAYER_MANIFEST), encodePlayerManifest(manifest));
  await syncFolder(root);
  await syncFolder(join(stickDir, PLAYERS_DIR));
  return manifest;
}

async function ldd(file: string): Promise<string> {
  const r = await runTool("ldd", [file], { debianPackage: "libc-bin", purpose: "find the libraries of the bundled player" });
  if (r.code !== 0) throw new StickvmError("MISSING_TOOL", `ldd ${file} failed: ${r.stderr}`);
  return r.stdout;
}

/** ldd's lines: `name => /path (0x…)`, `/lib64/ld-linux-x86-64.so.2 (0x…)` (the loader), `linux-vdso.so.1 (0x…)` (the kernel's; not a file). */
export function parseLdd(text: string, file: string): { libraries: Map<string, string>; loader: string | undefined } {
  const libraries = new Map<string, string>();
  let loader: string | undefined;
  for (const line of text.split("\n").map((l) => l.trim())) {
    const lib = /^(\S+) => (.+?)(?: \(0x[0-9a-f]+\))?$/.exec(line);
    if (lib?.[1] !== undefined && lib[2] !== undefined) {
      if (lib[2] === "not found") throw new StickvmError("MISSING_TOOL", `${file} needs ${lib[1]}, which this machine does not have, so the player cannot be bundled`);
      libraries.set(lib[1], lib[2]);
    } else if (/^\/\S+ \(0x[0-9a-f]+\)$/.test(line)) loader = line.split(" ")[0];
  }
  return { libraries, loader };
}

async function listModules(dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return []; // a QEMU built without modules
    throw fileError(err, "read QEMU's module folder", dir);
  }
  return names.filter((n) => n.endsWith(".so")).sort().map((n) => join(dir, n));
}

/** Files under a folder, relative, symlinks followed (a FAT stick has none), sorted. */
async function filesUnder(dir: string): Promise<string[]> {
  let entries: string[];
  try {
    entries = await readdir(await realpath(dir), { recursive: true });
  } catch (err) {
    throw fileError(err, "read the QEMU firmware folder", dir);
  }
  const files: string[] = [];
  for (const e of entries.sort()) {
    if ((await stat(join(dir, e))).isFile()) files.push(e);
  }
  return files;
}
