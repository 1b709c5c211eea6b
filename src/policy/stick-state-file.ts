import { open, readFile } from "node:fs/promises";
import { join } from "node:path";
import { parseStickState, STICK_STATE_FILES, stickStateKey, encodeStickState, type StickState } from "../../stick-layout/stick-state.js";
import { fileError } from "../errors/errors.js";
import { LayoutError } from "../util/bytes.js";
import { syncFolder } from "../util/durable-file.js";

/** Where a stick's state lives and the key it is sealed under (FORMAT.md §29). */
export interface StickStateAccess {
  stickDir: string;
  stickId: Uint8Array;
  key: Uint8Array;
}

export function stickStateAccess(stickDir: string, userKey: Uint8Array, stickId: Uint8Array): StickStateAccess {
  return { stickDir, stickId, key: stickStateKey(userKey, stickId) };
}

/** The newest slot that opens (undefined: none), and why any other slot did not (warnings, never fatal). */
export interface LoadedStickState {
  state: StickState | undefined;
  problems: string[];
}

export async function loadStickState(a: StickStateAccess): Promise<LoadedStickState> {
  let state: StickState | undefined;
  const problems: string[] = [];
  for (const [slot, name] of STICK_STATE_FILES.entries()) {
    let bytes: Buffer;
    try {
      bytes = await readFile(join(a.stickDir, name));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") problems.push(`${name} cannot be read: ${(err as Error).message}`);
      continue;
    }
    try {
      const s = parseStickState(a.key, a.stickId, slot, bytes);
      if (state === undefined || s.sequence > state.sequence) state = s;
    } catch (err) {
      if (!(err instanceof LayoutError)) throw err;
      problems.push(err.message);
    }
  }
  return { state, problems };
}

/**
 * Writes the state that follows `previous` (sequence + 1) into the slot that sequence names, never
 * the slot `previous` came from, and syncs it and the stick's folder: a crash part way leaves that
 * slot short or failing its seal, and readers take the other one.
 */
export async function saveStickState(a: StickStateAccess, previous: StickState | undefined, next: Omit<StickState, "sequence">): Promise<StickState> {
  const state = { ...next, sequence: (previous?.sequence ?? 0) + 1 };
  const path = join(a.stickDir, STICK_STATE_FILES[state.sequence % 2] ?? STICK_STATE_FILES[0]);
  let fh;
  try {
    fh = await open(path, "w", 0o600);
  } catch (err) {
    throw fileError(err, "create", path);
  }
  try {
    await fh.writeFile(encodeStickState(a.key, a.stickId, state));
    await fh.sync();
  } catch (err) {
    throw fileError(err, "write", path);
  } finally {
    await fh.close().catch(() => undefined);
  }
  await syncFolder(a.stickDir);
  return state;
}
