import { statfs } from "node:fs/promises";
import { dirname, isAbsolute, join, win32 } from "node:path";

/** Where the host cache of base chunks goes, by each OS's own convention for per-user caches. */
export function cacheDir(platform: NodeJS.Platform, env: NodeJS.ProcessEnv, home: string): string {
  if (platform === "win32") {
    const local = env.LOCALAPPDATA;
    return win32.join(local !== undefined && local !== "" ? local : win32.join(home, "AppData", "Local"), "stickvm");
  }
  if (platform === "darwin") return join(home, "Library", "Caches", "stickvm");
  // XDG: a relative value is invalid and must be ignored
  const xdg = env.XDG_CACHE_HOME;
  return join(xdg !== undefined && isAbsolute(xdg) ? xdg : join(home, ".cache"), "stickvm");
}

/**
 * Free bytes (for this user) on the file system that will hold `path`. Detection creates
 * nothing on the host, so a cache folder that does not exist yet is measured at its
 * nearest existing parent.
 */
export async function freeSpaceFor(path: string): Promise<{ measuredAt: string; freeBytes: number } | undefined> {
  let at = path;
  for (;;) {
    try {
      const s = await statfs(at);
      return { measuredAt: at, freeBytes: s.bavail * s.bsize };
    } catch (err) {
      const parent = dirname(at);
      if ((err as NodeJS.ErrnoException).code !== "ENOENT" || parent === at) return undefined;
      at = parent;
    }
  }
}
