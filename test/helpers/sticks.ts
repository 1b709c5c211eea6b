// Shared test helpers: temporary folders, images with known content, fast builds, CLI runs.
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { buildStick, BUILD_DEFAULTS, type BuildOptions, type BuildResult } from "../../src/admin/build.js";
import { keygen } from "../../src/admin/keygen.js";
import { ARGON2_MIN } from "../../src/crypto/kdf.js";

/** Repository root (tests run from dist/test/...). */
export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
export const MAKE_STICK = join(REPO_ROOT, "dist", "scripts", "make-stick.js");
export const PASSPHRASE = "correct horse battery staple";

export async function tempDir(t: { after: (fn: () => Promise<void>) => void }, prefix = "stickvm-test-"): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  t.after(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** One piece of a test image: random bytes, zeros, or a copy of an earlier piece (so chunks repeat). */
export type Piece = { random: number } | { zeros: number } | { repeat: number };

export function imageBytes(pieces: Piece[]): Buffer {
  const parts: Buffer[] = [];
  for (const p of pieces) {
    if ("random" in p) parts.push(randomBytes(p.random));
    else if ("zeros" in p) parts.push(Buffer.alloc(p.zeros));
    else {
      const earlier = parts[p.repeat];
      if (earlier === undefined) throw new Error(`piece ${p.repeat} does not exist yet`);
      parts.push(earlier);
    }
  }
  return Buffer.concat(parts);
}

export async function writeImage(dir: string, pieces: Piece[], name = "image.raw"): Promise<{ path: string; bytes: Buffer }> {
  const bytes = imageBytes(pieces);
  const path = join(dir, name);
  await writeFile(path, bytes);
  return { path, bytes };
}

export async function adminKey(dir: string): Promise<string> {
  return (await keygen(join(dir, "keys"))).secretKey;
}

/** Builds with the smallest argon2id parameters a stick may have, so tests stay quick; a 1 MiB user disk unless a user image gives its size. */
export async function fastBuild(o: Pick<BuildOptions, "image" | "out" | "signingKey"> & Partial<BuildOptions>): Promise<BuildResult> {
  return buildStick({
    passphrase: PASSPHRASE,
    chunkSize: 64 * 1024,
    ...(o.userImage === undefined ? { userSize: 1024 * 1024 } : {}),
    localSize: 1024 * 1024,
    lineage: BUILD_DEFAULTS.lineage,
    kdf: ARGON2_MIN,
    compressionLevel: BUILD_DEFAULTS.compressionLevel,
    packLimit: BUILD_DEFAULTS.packLimit,
    threads: 2,
    ...o,
  });
}

export const FAST_KDF_ARGS = ["--kdf-memory", String(ARGON2_MIN.memoryKiB), "--kdf-passes", String(ARGON2_MIN.passes)];

/** Runs a compiled script of this repository as a real process, with STICKVM_PASSPHRASE set; an env value of undefined removes that variable. */
export function runScript(script: string, args: string[], env: Record<string, string | undefined> = {}): { status: number | null; stdout: string; stderr: string } {
  const merged = Object.fromEntries(
    Object.entries<string | undefined>({ ...process.env, STICKVM_PASSPHRASE: PASSPHRASE, ...env }).filter(([, v]) => v !== undefined),
  );
  const r = spawnSync(process.execPath, [script, ...args], { encoding: "utf8", env: merged, timeout: 120_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Runs make-stick as a real process (see runScript). */
export function makeStick(args: string[], env: Record<string, string | undefined> = {}): ReturnType<typeof runScript> {
  return runScript(MAKE_STICK, args, env);
}

/** True when a command is on PATH; tests that need it skip, saying so, when it is not. */
export function haveTool(command: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${command}`]).status === 0;
}
