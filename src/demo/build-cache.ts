import { createHash } from "node:crypto";
import { mkdir, mkdtemp, readdir, readFile, rename, rm, stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { GUEST_DIR } from "./guest-files.js";

/** A short hex digest of everything that goes into a build: its cache key. */
export function contentHash(parts: readonly (Buffer | string)[]): string {
  const h = createHash("sha256");
  // Each part's length goes in too, so moving bytes from one part to the next changes the key.
  for (const p of parts) h.update(`${Buffer.byteLength(p)}:`).update(p);
  return h.digest("hex").slice(0, 12);
}

/**
 * A build in `cacheDir`, made once per `hash`: `make(work, out)` fills the folder `out` (its
 * scratch space is `work`) and returns a name for it (e.g. the kernel's package), and the folder
 * is published as NAME-HASH by one rename, so nobody ever sees half a build. A later call with the
 * same hash returns the newest such folder without calling `make`.
 */
export async function cachedBuild(cacheDir: string, hash: string, make: (work: string, out: string) => Promise<string>): Promise<string> {
  await mkdir(cacheDir, { recursive: true });
  const cached = await newestBuild(cacheDir, `-${hash}`);
  if (cached !== undefined) return cached;
  const work = await mkdtemp(join(cacheDir, ".build-"));
  try {
    const out = join(work, "out");
    await mkdir(out);
    const target = join(cacheDir, `${await make(work, out)}-${hash}`);
    // A concurrent builder may have won the race; its build is as good as ours.
    await rename(out, target).catch((e: unknown) => {
      if (!isErrno(e, "ENOTEMPTY") && !isErrno(e, "EEXIST")) throw e;
    });
    return target;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

async function newestBuild(cacheDir: string, suffix: string): Promise<string | undefined> {
  let best: { dir: string; mtime: number } | undefined;
  for (const entry of await readdir(cacheDir)) {
    if (entry.startsWith(".") || !entry.endsWith(suffix)) continue;
    const dir = join(cacheDir, entry);
    const { mtimeMs } = await stat(dir);
    if (best === undefined || mtimeMs > best.mtime) best = { dir, mtime: mtimeMs };
  }
  return best?.dir;
}

function isErrno(e: unknown, code: string): boolean {
  return e instanceof Error && "code" in e && e.code === code;
}

/**
 * The compiled code of this folder's modules and the guests' files: a guest build's key includes
 * everything that made it.
 */
export async function builderCode(): Promise<Buffer[]> {
  const dir = dirname(fileURLToPath(import.meta.url));
  const code = (await readdir(dir)).filter((f) => f.endsWith(".js")).sort().map((f) => join(dir, f));
  const guest = (await readdir(GUEST_DIR, { recursive: true, withFileTypes: true }))
    .filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name)).sort();
  return Promise.all([...code, ...guest].map((f) => readFile(f)));
}
