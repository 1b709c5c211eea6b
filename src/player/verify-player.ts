import { createHash } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { CorruptStickError, fileError } from "../errors/errors.js";
import { parsePlayerManifest, PLAYER_MANIFEST, PLAYERS_DIR } from "./player-manifest.js";

/** The player folders on a stick (`players/<target>/`), sorted; none when there is no `players/`. */
export async function stickPlayers(stick: string): Promise<string[]> {
  try {
    return (await readdir(join(stick, PLAYERS_DIR), { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw fileError(err, "read", join(stick, PLAYERS_DIR));
  }
}

/**
 * Checks every file of a player against its player.json: present, its size, its SHA-256. This finds
 * damage, not tampering: player.json itself is not authenticated (FORMAT.md §22.3).
 */
export async function verifyPlayer(stick: string, target: string): Promise<void> {
  const dir = join(stick, PLAYERS_DIR, target);
  const manifestPath = join(dir, PLAYER_MANIFEST);
  let text: string;
  try {
    text = await readFile(manifestPath, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") throw new CorruptStickError(`${manifestPath} is missing`);
    throw fileError(err, "read", manifestPath);
  }
  const manifest = parsePlayerManifest(text, manifestPath);
  if (manifest.target !== target) throw new CorruptStickError(`${manifestPath} is for ${manifest.target}, in the folder for ${target}`);
  const bad: string[] = [];
  for (const f of manifest.files) {
    let data: Buffer;
    try {
      data = await readFile(join(dir, f.path));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw fileError(err, "read", join(dir, f.path));
      bad.push(`${f.path} is missing`);
      continue;
    }
    if (data.length !== f.size) bad.push(`${f.path} is ${data.length} bytes, not ${f.size}`);
    else if (createHash("sha256").update(data).digest("hex") !== f.sha256) bad.push(`${f.path} does not match its SHA-256`);
  }
  if (bad.length > 0) throw new CorruptStickError(`${bad.length} of the player's ${manifest.files.length} files are damaged: ${bad.slice(0, 5).join("; ")}${bad.length > 5 ? "; …" : ""}`);
}
