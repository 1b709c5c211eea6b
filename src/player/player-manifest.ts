import { CorruptStickError } from "../errors/errors.js";

/** The players a stick can carry, by host (`players/<os>-<arch>/`, FORMAT.md §22). Only Linux x64 is bundled so far. */
export const PLAYER_TARGETS = ["linux-x64"] as const;
export type PlayerTarget = (typeof PLAYER_TARGETS)[number];

export const PLAYERS_DIR = "players";
export const PLAYER_MANIFEST = "player.json";
export const PLAYER_MANIFEST_VERSION = 1;

export interface PlayerFile {
  /** Relative to the player's folder, with `/` separators. */
  path: string;
  size: number;
  /** SHA-256 of the file, hex. */
  sha256: string;
}

/** `players/<target>/player.json`: how to start the player and every file it consists of (FORMAT.md §22). */
export interface PlayerManifest {
  version: typeof PLAYER_MANIFEST_VERSION;
  target: PlayerTarget;
  /** The first line of `qemu-system-x86_64 --version`. */
  qemuVersion: string;
  /** The dynamic loader the binary is started through, so that no library comes from the host. */
  loader: string;
  /** The loader's --library-path. */
  libraryDir: string;
  binary: string;
  /** QEMU_MODULE_DIR: QEMU's loadable modules (TCG is one in Debian's build). */
  moduleDir: string;
  /** Firmware folders, each passed with -L, in order. */
  firmwareDirs: string[];
  files: PlayerFile[];
}

export function encodePlayerManifest(m: PlayerManifest): string {
  return `${JSON.stringify(m, null, 2)}\n`;
}

/** Parses player.json; paths must stay inside the player's folder. */
export function parsePlayerManifest(text: string, where: string): PlayerManifest {
  const bad = (why: string): CorruptStickError => new CorruptStickError(`${where}: ${why}`);
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw bad("not valid JSON");
  }
  if (typeof raw !== "object" || raw === null) throw bad("not a JSON object");
  const m = raw as Record<string, unknown>;
  if (m.version !== PLAYER_MANIFEST_VERSION) throw bad(`player manifest version ${JSON.stringify(m.version)}, this stickvm reads ${PLAYER_MANIFEST_VERSION}`);
  if (!PLAYER_TARGETS.includes(m.target as PlayerTarget)) throw bad(`unknown target ${JSON.stringify(m.target)}`);
  const path = (v: unknown, key: string): string => {
    if (typeof v !== "string" || !isInsidePath(v)) throw bad(`${key} must be a relative path inside the player's folder`);
    return v;
  };
  if (!Array.isArray(m.firmwareDirs) || !Array.isArray(m.files)) throw bad("firmwareDirs and files must be lists");
  const files = m.files.map((f: unknown, i): PlayerFile => {
    const e = (f ?? {}) as Record<string, unknown>;
    if (!Number.isSafeInteger(e.size) || (e.size as number) < 0 || typeof e.sha256 !== "string" || !/^[0-9a-f]{64}$/.test(e.sha256)) throw bad(`files[${i}] needs a size and a sha256`);
    return { path: path(e.path, `files[${i}].path`), size: e.size as number, sha256: e.sha256 };
  });
  return {
    version: PLAYER_MANIFEST_VERSION,
    target: m.target as PlayerTarget,
    qemuVersion: typeof m.qemuVersion === "string" ? m.qemuVersion : "",
    loader: path(m.loader, "loader"),
    libraryDir: path(m.libraryDir, "libraryDir"),
    binary: path(m.binary, "binary"),
    moduleDir: path(m.moduleDir, "moduleDir"),
    firmwareDirs: m.firmwareDirs.map((d: unknown, i) => path(d, `firmwareDirs[${i}]`)),
    files,
  };
}

function isInsidePath(p: string): boolean {
  return p.length > 0 && !p.startsWith("/") && !p.includes("\\") && p.split("/").every((part) => part !== "" && part !== "." && part !== "..");
}
