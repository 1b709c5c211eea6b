import { tmpdir } from "node:os";
import { cacheDir } from "../host/cache-dir.js";
import { runFolderCandidates } from "../run/run-folder.js";
import type { WipeRoots } from "./allowed-roots.js";

/**
 * The roots the launcher uses on this host: the run folder's candidates, the temp folder (session
 * folders) and `/tmp` (run.sh's last choice for its copy of the launcher); the OS's cache folder
 * for stickvm and any other cache root in use (`--cache-dir`, the stick's signed policy).
 */
export function hostWipeRoots(o: { env: NodeJS.ProcessEnv; platform: NodeJS.Platform; home: string; cacheDirs?: (string | undefined)[] }): WipeRoots {
  const temp = [...runFolderCandidates(o.env, o.platform), tmpdir(), ...(o.platform === "win32" ? [] : ["/tmp"])];
  const cache = [cacheDir(o.platform, o.env, o.home), ...(o.cacheDirs ?? [])].filter((d): d is string => d !== undefined);
  return { temp: [...new Set(temp)], cache: [...new Set(cache)] };
}
