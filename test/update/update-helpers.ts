// Helpers for base update tests: a stick and its update image, staging, opening with the launcher's apply step.
import { randomBytes } from "node:crypto";
import { cp, readdir, readFile, writeFile } from "node:fs/promises";
import { basename, join } from "node:path";
import { LOCK_FILE } from "../../src/serve/stick-lock.js";
import { BUILD_DEFAULTS } from "../../src/admin/build.js";
import { openStick, type OpenStick } from "../../src/chunkstore/open-stick.js";
import { sha256 } from "../../src/crypto/hash.js";
import { applyStagedUpdate, type UpdateChoice } from "../../src/update/apply.js";
import { stageUpdate, type StageOptions, type StageResult } from "../../src/update/stage.js";
import { PASSPHRASE } from "../helpers/sticks.js";

export const CHUNK = 64 * 1024;

/** The next version of an image: chunks `changed` replaced by new random ones, the rest kept. */
export function changedImage(image: Buffer, changed: number[]): Buffer {
  const next = Buffer.from(image);
  for (const i of changed) randomBytes(CHUNK).copy(next, i * CHUNK);
  return next;
}

export async function stage(stick: string, dir: string, image: Buffer, signingKey: string, more: Partial<StageOptions> = {}): Promise<StageResult> {
  const path = join(dir, `update-${sha256(image).toString("hex").slice(0, 8)}.raw`);
  await writeFile(path, image);
  return stageUpdate({ stick, image: path, signingKey, lineage: BUILD_DEFAULTS.lineage, compressionLevel: 3, threads: 2, packLimit: BUILD_DEFAULTS.packLimit, ...more });
}

export interface Opened {
  stick: OpenStick;
  statuses: string[];
  warnings: string[];
}

/** Opens as a launcher does: a staged update is applied first. */
export async function openApplying(dir: string, decide?: () => Promise<UpdateChoice>): Promise<Opened> {
  const statuses: string[] = [];
  const warnings: string[] = [];
  const stick = await openStick(dir, { passphrase: PASSPHRASE }, {
    applyUpdate: (c) => applyStagedUpdate({ stickDir: c.dir, ...c, onStatus: (m) => statuses.push(m), onWarning: (m) => warnings.push(m), ...(decide ? { decide } : {}) }),
  });
  return { stick, statuses, warnings };
}

/** The base image a stick serves, and its base version. */
export async function baseOf(dir: string, apply: boolean): Promise<{ version: number; bytes: Buffer; warnings: string[] }> {
  const o = apply ? await openApplying(dir) : { stick: await openStick(dir, { passphrase: PASSPHRASE }), warnings: [] };
  try {
    return { version: o.stick.header.baseVersion, bytes: await o.stick.base.read(0, o.stick.base.size), warnings: o.warnings };
  } finally {
    await o.stick.close();
  }
}

/** SHA-256 of every file in the stick's user log folder: the user layer, byte for byte. */
export async function userLayerDigest(stick: string): Promise<string> {
  const dir = join(stick, "user");
  const names = (await readdir(dir)).sort();
  const parts = await Promise.all(names.map(async (n) => sha256(Buffer.from(n), await readFile(join(dir, n)))));
  return sha256(...parts).toString("hex");
}

/** A copy of the stick as it is at this moment, in `into/name`: what a crash here would leave (the lock of the dead process aside: it would be taken over). */
export async function snapshot(stick: string, into: string, name: string): Promise<string> {
  const out = join(into, name);
  await cp(stick, out, { recursive: true, filter: (src) => basename(src) !== LOCK_FILE });
  return out;
}
