import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { readFile, utimes, writeFile } from "node:fs/promises";
import { hostname } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { LOCK_FILE, lockStick, StickBusyError } from "../../src/serve/stick-lock.js";
import { tempDir } from "../helpers/sticks.js";

test("a second holder is refused while the first lives; a crashed holder's lock is taken over", async (t) => {
  const dir = await tempDir(t);
  const first = await lockStick(dir);
  await assert.rejects(lockStick(dir), (err: unknown) => err instanceof StickBusyError && new RegExp(`process ${process.pid}`).test(err.message));
  await first.release();

  // a lock left by a process that has exited on this host
  const child = spawn(process.execPath, ["-e", "0"]);
  const deadPid = await new Promise<number>((resolve) => child.on("exit", () => { resolve(child.pid ?? 0); }));
  await writeFile(join(dir, LOCK_FILE), JSON.stringify({ pid: deadPid, host: hostname(), startedMs: 0 }));
  const second = await lockStick(dir);
  assert.equal((JSON.parse(await readFile(join(dir, LOCK_FILE), "utf8")) as { pid: number }).pid, process.pid);
  await second.release();

  // another host's lock: fresh is refused, stale (untouched for long) is taken over
  await writeFile(join(dir, LOCK_FILE), JSON.stringify({ pid: 1, host: "elsewhere", startedMs: 0 }));
  await assert.rejects(lockStick(dir), /in use by process 1 on elsewhere/);
  const old = new Date(Date.now() - 3600_000);
  await utimes(join(dir, LOCK_FILE), old, old);
  const third = await lockStick(dir);
  await third.release();
});
