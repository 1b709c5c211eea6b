// The boot profile slots (FORMAT.md §25): a session loads the stick's profile and saves the next
// one (sequence + 1) into the other slot. After a crash the newest acknowledged profile, or a
// newer one, must load, whole.
import { loadBootProfile, saveBootProfile } from "../../src/cache/boot-profile-file.js";
import type { BootProfile } from "../../stick-layout/boot-profile.js";
import { MemFiles } from "./mem-files.js";
import { prng } from "./prng.js";
import type { CrashScenario, RecordedRun } from "./scenario.js";

const STICK = "/stick";
const KEY = Buffer.alloc(32, 0x70);
const STICK_ID = Buffer.alloc(16, 0x51);
const SAVES = 24;

function profile(sequence: number, next: (n: number) => number): BootProfile {
  // up to 1,024 ids (32 KiB): a slot spans many sectors
  const ids = Buffer.alloc(32 * (1 + next(1024)));
  for (let i = 0; i < ids.length; i += 4) ids.writeUInt32LE(next(2 ** 32), i);
  return { sequence, baseVersion: 1 + next(3), recordedMs: 1_700_000_000_000 + next(1e9), durationMs: next(180_000), ids };
}

function same(a: BootProfile, b: BootProfile): boolean {
  return a.sequence === b.sequence && a.baseVersion === b.baseVersion && a.recordedMs === b.recordedMs && a.durationMs === b.durationMs && a.ids.equals(b.ids);
}

export const bootProfileScenario: CrashScenario = {
  name: "boot profile slots",
  weight: 1.5,
  async record(seed: number): Promise<RecordedRun> {
    const next = prng(seed);
    const files = new MemFiles();
    const base = files.snapshot();
    files.recording = true;
    const saved: { profile: BootProfile; end: number }[] = [];
    for (let k = 0; k < SAVES; k++) {
      // each save as a session makes it: the sequence after the one the stick holds
      const { profile: found } = await loadBootProfile(STICK, KEY, STICK_ID, files);
      const p = profile((found?.sequence ?? 0) + 1, next);
      await saveBootProfile(STICK, KEY, STICK_ID, p, files);
      saved.push({ profile: p, end: files.ops.length });
    }
    files.recording = false;

    const check = async (state: MemFiles, prefix: number, goOn: boolean): Promise<string | undefined> => {
      const acked = saved.filter((s) => s.end <= prefix).at(-1)?.profile;
      let found: BootProfile | undefined;
      try {
        found = (await loadBootProfile(STICK, KEY, STICK_ID, state)).profile;
      } catch (err) {
        return `loading failed: ${(err as Error).message}`;
      }
      if (acked !== undefined && (found === undefined || found.sequence < acked.sequence)) {
        return `profile ${acked.sequence} was saved, ${found === undefined ? "none" : `profile ${found.sequence}`} loads`;
      }
      if (found !== undefined) {
        const original = saved.find((s) => s.profile.sequence === found.sequence)?.profile;
        if (original === undefined || !same(found, original)) return `profile ${found.sequence} loads with other contents than were saved`;
      }
      if (!goOn) return undefined;
      const p = profile((found?.sequence ?? 0) + 1, next);
      try {
        await saveBootProfile(STICK, KEY, STICK_ID, p, state);
        const again = (await loadBootProfile(STICK, KEY, STICK_ID, state)).profile;
        return again !== undefined && same(again, p) ? undefined : `a profile saved after the crash does not load back`;
      } catch (err) {
        return `saving after the crash failed: ${(err as Error).message}`;
      }
    };
    return { base, ops: files.ops, check };
  },
};
