import assert from "node:assert/strict";
import { mkdir, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { entryProblem, type WipeRoots } from "../../src/securewipe/allowed-roots.js";
import type { ResidueEntry, ResidueKind, ResidueWhat } from "../../stick-layout/residue-journal.js";
import { tempDir } from "../helpers/sticks.js";

function e(what: ResidueWhat, path: string, kind: ResidueKind = what === "cache-parent" ? "empty-dir" : "tree"): ResidueEntry {
  return { kind, what, path, keep: false, createdMs: 0 };
}

test("only the launcher's own names directly in this host's roots pass; anything else is refused with the reason", async (t) => {
  const dir = await tempDir(t);
  const shm = join(dir, "shm");
  const cacheRoot = join(dir, "home", ".cache", "stickvm");
  await mkdir(shm);
  await mkdir(cacheRoot, { recursive: true });
  const roots: WipeRoots = { temp: [shm], cache: [cacheRoot] };
  const run = join(shm, "stickvm-run-0123456789abcdef");
  const cases: [ResidueEntry, RegExp | undefined][] = [
    [e("run", run), undefined],
    [e("session", join(shm, "stickvm-session-0123456789abcdef")), undefined],
    [e("launcher-copy", join(shm, "stickvm-run.Ab3dE9")), undefined],
    [e("cache", join(cacheRoot, "0123456789abcdef0123456789abcdef")), undefined],
    [e("cache-parent", cacheRoot), undefined],
    [e("cache-parent", join(dir, "home", ".cache")), undefined],
    [e("cache-parent", join(dir, "home")), /neither a cache root of this host nor the folder above one/],
    [e("run", "/etc/passwd"), /does not have the name of a run folder/],
    [e("run", "/etc/stickvm-run-0123456789abcdef"), /is not in a folder the launcher uses for a run folder/],
    [e("session", `${shm}/../stickvm-session-0123456789abcdef`), /is not a plain absolute path/],
    [e("run", "stickvm-run-0123456789abcdef"), /is not a plain absolute path/],
    [e("run", `${shm}/x/../stickvm-run-0123456789abcdef`), /is not a plain absolute path/],
    [e("run", `${shm}//stickvm-run-0123456789abcdef`), /is not a plain absolute path/],
    [e("cache", join(shm, "0123456789abcdef0123456789abcdef")), /is not in a folder the launcher uses for a cache folder/],
    [e("run", join(shm, "stickvm-run-0123456789abcdef", "inner")), /does not have the name/],
    [e("run", run, "empty-dir"), /a run folder is wiped whole/],
    [e("cache-parent", cacheRoot, "tree"), /only ever removed when empty/],
  ];
  for (const [entry, expected] of cases) {
    const problem = await entryProblem(entry, roots);
    if (expected === undefined) assert.equal(problem, undefined, `${entry.path} passes`);
    else assert.match(problem ?? "(passed)", expected, entry.path);
  }
  // a symbolic link with the right name, pointing out of the roots, is refused (and never followed)
  const outside = join(dir, "precious");
  await writeFile(outside, "keep me");
  const link = join(shm, "stickvm-session-fedcba9876543210");
  await symlink(outside, link);
  assert.match((await entryProblem(e("session", link), roots)) ?? "", /is a symbolic link: never followed/);
});
