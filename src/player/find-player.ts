import { accessSync, constants } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import { delimiter, join } from "node:path";
import { CorruptStickError, fileError, NoPlayerError } from "../errors/errors.js";
import { parsePlayerManifest, PLAYER_MANIFEST, PLAYERS_DIR, type PlayerManifest } from "./player-manifest.js";

/**
 * A player to start: the stick's own (started through its loader), or a QEMU found on the host's
 * PATH. `execDir` holds a copy of the stick player's loader, libraries, binary and modules where
 * the stick's own cannot be executed (a noexec mount); firmware is always read from `dir`.
 */
export type Player = { kind: "stick"; dir: string; manifest: PlayerManifest; execDir?: string } | { kind: "host"; binary: string };

export interface FindPlayerOptions {
  stick: string;
  platform: NodeJS.Platform;
  arch: string;
  /** The policy's `players`: the names allowed ("host", `<os>-<arch>`); undefined: any. */
  players: readonly string[] | undefined;
  /** The host's PATH; default process.env.PATH. */
  path?: string;
}

/** The guest is x86-64 whatever the host is. */
export function qemuName(platform: NodeJS.Platform): string {
  return platform === "win32" ? "qemu-system-x86_64.exe" : "qemu-system-x86_64";
}

/** The first executable file of this name in a PATH string. */
export function findOnPath(name: string, path: string): string | undefined {
  for (const dir of path.split(delimiter)) {
    if (dir === "") continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/**
 * The stick's player for this OS and architecture (`players/<os>-<arch>/`), else the host's QEMU, each
 * only when the policy's `players` allows it; else a NoPlayerError that says what is missing or not
 * allowed. A stick's player whose files are not all there at their recorded sizes is a damaged stick,
 * not a reason to fall back.
 */
export async function findPlayer(o: FindPlayerOptions): Promise<Player> {
  const target = `${o.platform === "win32" ? "windows" : o.platform === "darwin" ? "macos" : o.platform}-${o.arch}`;
  const allowed = (name: string): boolean => o.players === undefined || o.players.includes(name);
  const dir = join(o.stick, PLAYERS_DIR, target);
  const manifestPath = join(dir, PLAYER_MANIFEST);
  let text: string | undefined;
  try {
    text = await readFile(manifestPath, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw fileError(err, "read", manifestPath);
  }
  if (text !== undefined && allowed(target)) {
    const manifest = parsePlayerManifest(text, manifestPath);
    await checkFiles(dir, manifest);
    return { kind: "stick", dir, manifest };
  }
  const name = qemuName(o.platform);
  const noStickPlayer =
    text === undefined
      ? `the stick has no player for ${target} (no ${join(PLAYERS_DIR, target, PLAYER_MANIFEST)})`
      : `the stick's player for ${target} is not among the players its policy allows (${describePlayers(o.players)})`;
  if (!allowed("host")) throw new NoPlayerError(`${noStickPlayer}, and its policy does not allow the host's QEMU (players: ${describePlayers(o.players)})`);
  const binary = findOnPath(name, o.path ?? process.env.PATH ?? "");
  if (binary === undefined) throw new NoPlayerError(`${noStickPlayer}, and there is no ${name} on this host's PATH (install QEMU, or rebuild the stick with --player ${target}=host)`);
  return { kind: "host", binary };
}

function describePlayers(players: readonly string[] | undefined): string {
  return JSON.stringify(players ?? []);
}

async function checkFiles(dir: string, m: PlayerManifest): Promise<void> {
  for (const p of [m.loader, m.binary]) {
    if (!m.files.some((f) => f.path === p)) throw new CorruptStickError(`${join(dir, PLAYER_MANIFEST)} does not list ${p} among its files`);
  }
  for (const f of m.files) {
    const path = join(dir, f.path);
    let size: number;
    try {
      size = (await stat(path)).size;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") throw new CorruptStickError(`the stick's player is missing ${path}`);
      throw fileError(err, "check", path);
    }
    if (size !== f.size) throw new CorruptStickError(`the stick's player file ${path} is ${size} bytes, its manifest says ${f.size}`);
  }
}
