import { open, readFile } from "node:fs/promises";
import { join } from "node:path";
import { UPDATE_STATE_FILES } from "../../stick-layout/format.js";
import { encodeUpdateState, parseUpdateState, updateStateKey, type UpdateState } from "../../stick-layout/update-state.js";
import { fileError } from "../errors/errors.js";
import { LayoutError } from "../util/bytes.js";
import { syncFolder } from "../util/durable-file.js";

// The update state's two slots on the stick (FORMAT.md §27.5): the newer valid one is the state;
// a write goes to the other, so a torn write leaves the state before it.

export interface StickKeys {
  stickDir: string;
  stickId: Buffer;
  userKey: Buffer;
}

const EMPTY: UpdateState = { sequence: 0, postponedVersion: 0, postponeCount: 0, lastContactMs: 0 };

export async function readUpdateState(k: StickKeys): Promise<UpdateState> {
  const key = updateStateKey(k.userKey, k.stickId);
  let best = EMPTY;
  for (const [slot, name] of UPDATE_STATE_FILES.entries()) {
    let buf;
    try {
      buf = await readFile(join(k.stickDir, name));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") continue;
      throw fileError(err, "read", join(k.stickDir, name));
    }
    try {
      const s = parseUpdateState(key, k.stickId, slot, buf);
      if (s.sequence > best.sequence) best = s;
    } catch (err) {
      if (!(err instanceof LayoutError)) throw err;
    }
  }
  key.fill(0);
  return best;
}

/** Writes `change` applied to the current state into the other slot, synced. */
export async function updateUpdateState(k: StickKeys, change: (s: UpdateState) => Omit<UpdateState, "sequence">): Promise<UpdateState> {
  const current = await readUpdateState(k);
  const next = { ...change(current), sequence: current.sequence + 1 };
  const key = updateStateKey(k.userKey, k.stickId);
  const bytes = encodeUpdateState(key, k.stickId, next);
  key.fill(0);
  const path = join(k.stickDir, UPDATE_STATE_FILES[next.sequence % 2] ?? UPDATE_STATE_FILES[0]);
  try {
    const fh = await open(path, "w");
    try {
      await fh.writeFile(bytes);
      await fh.sync();
    } finally {
      await fh.close();
    }
  } catch (err) {
    throw fileError(err, "write", path);
  }
  await syncFolder(k.stickDir);
  return next;
}

/**
 * When the stick's update URL last gave a validly signed answer (ms since 1970), or undefined
 * when it never did: what a maximum number of days offline is measured from.
 */
export async function lastUpdateContact(k: StickKeys): Promise<number | undefined> {
  const ms = (await readUpdateState(k)).lastContactMs;
  return ms === 0 ? undefined : ms;
}

/** Notes a validly signed answer of the update URL now. */
export async function recordUpdateContact(k: StickKeys, nowMs = Date.now()): Promise<void> {
  await updateUpdateState(k, (s) => ({ ...s, lastContactMs: Math.max(s.lastContactMs, nowMs) }));
}
