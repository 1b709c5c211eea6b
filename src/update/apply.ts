import { rm } from "node:fs/promises";
import { join } from "node:path";
import { releaseFileName, STICK_FILES, versionPolicyFileName } from "../../stick-layout/format.js";
import { formatVersionFor, type StickHeader } from "../../stick-layout/header.js";
import type { StickSecrets } from "../../stick-layout/secrets.js";
import { loadChunkIndex, loadManifest, loadUserTemplate } from "../chunkstore/stick-files.js";
import { sha256 } from "../crypto/hash.js";
import { UpdateRefusedError } from "../errors/errors.js";
import { systemChangesPolicy } from "../policy/system-changes.js";
import { updatePolicy } from "../policy/update-policy.js";
import { syncFolder, writeNewFileDurably } from "../util/durable-file.js";
import { checkStaged } from "./check-staged.js";
import { downloadInProgress } from "./download-packs.js";
import { completeHeaderPair, writeHeaderSlot } from "./header-pair.js";
import { reclaim } from "./reclaim.js";
import { findStagedRelease } from "./staged-release.js";
import { readUpdateState, updateUpdateState } from "./update-state-file.js";

export type UpdateChoice = "apply" | "postpone";

/** What the person is asked when an update would discard persistent system changes. */
export interface UpdatePrompt {
  fromVersion: number;
  toVersion: number;
  /** Times this update was postponed already. */
  postponed: number;
  /** Times it may be postponed in all (policy updatePostponeLimit). */
  limit: number;
}

export type ApplyStep = "header-pair" | "policy" | "header-first" | "header-second" | "reclaimed";

export interface ApplyOptions {
  stickDir: string;
  /** The authentic header in use. */
  header: StickHeader;
  secrets: StickSecrets;
  policyBytes: Buffer | undefined;
  /** Asked only with persistent system changes; without it such an update is postponed (until the limit). */
  decide?: (prompt: UpdatePrompt) => Promise<UpdateChoice>;
  onStatus: (message: string) => void;
  onWarning: (message: string) => void;
  /** Called once each step is durable (FORMAT.md §27.4): tests copy the stick there to see what a crash leaves. */
  onStep?: (step: ApplyStep) => Promise<void>;
}

export interface ApplyResult {
  header: StickHeader;
  policyBytes: Buffer | undefined;
  /** The base versions of an update applied now. */
  applied?: { from: number; to: number };
}

/**
 * At a launcher's start, once the stick is unlocked (FORMAT.md §27.4): finishes a header pair an
 * earlier apply left half written, then applies the newest staged release that checks out —
 * unless it would discard persistent system changes and the person postpones it (a bounded
 * number of times, counted on the stick). The commit point is the first header copy written with
 * the new base version; the other copy follows. Then what no version in use needs is reclaimed.
 * A refused release is removed and the stick stays on its version.
 */
export async function applyStagedUpdate(o: ApplyOptions): Promise<ApplyResult> {
  const { stickDir, secrets } = o;
  const keys = { stickDir, stickId: o.header.stickId, userKey: secrets.userKey };
  await completeHeaderPair(stickDir, o.header, secrets.headerMacKey);
  await o.onStep?.("header-pair");
  const unchanged = { header: o.header, policyBytes: o.policyBytes };
  // a remote download in progress writes packs from this one on: they are not garbage
  const download = await downloadInProgress(stickDir);
  const downloading = download === undefined ? {} : { packsFrom: download.firstPack };
  const { release, refused } = await findStagedRelease(stickDir, o.header);
  for (const why of refused) o.onWarning(`a staged update is refused: ${why}`);
  if (release === undefined) {
    await reclaim(stickDir, o.header, downloading);
    return unchanged;
  }
  const manifest = await loadManifest(stickDir, o.header);
  const current = { manifest, template: await loadUserTemplate(stickDir, o.header, manifest), index: await loadChunkIndex(stickDir, o.header) };
  let staged;
  try {
    staged = await checkStaged(stickDir, o.header, current, release, secrets);
  } catch (err) {
    if (!(err instanceof UpdateRefusedError)) throw err;
    o.onWarning(`${err.message}; it is removed, and the stick stays on base version ${o.header.baseVersion}`);
    await rm(join(stickDir, releaseFileName(release.baseVersion)), { force: true });
    await syncFolder(join(stickDir, STICK_FILES.baseDir));
    await reclaim(stickDir, o.header, downloading);
    return unchanged;
  }
  const from = o.header.baseVersion;
  const to = release.baseVersion;
  if (systemChangesPolicy(o.policyBytes, manifest.diskSize).mode === "persistent") {
    const limit = updatePolicy(o.policyBytes).postponeLimit;
    const state = await readUpdateState(keys);
    const postponed = state.postponedVersion === to ? state.postponeCount : 0;
    if (postponed < limit) {
      o.onStatus(`base update ${from} → ${to} is ready; applying it discards the changes made to the system disk since the last update (never the user disk). It may be postponed ${limit - postponed} more time(s).`);
      const choice = o.decide ? await o.decide({ fromVersion: from, toVersion: to, postponed, limit }) : "postpone";
      if (choice === "postpone") {
        await updateUpdateState(keys, (s) => ({ ...s, postponedVersion: to, postponeCount: postponed + 1 }));
        o.onStatus(`base update ${from} → ${to} postponed (${postponed + 1} of ${limit}); the stick stays on base version ${from}`);
        await reclaim(stickDir, o.header, { version: to, ...downloading });
        return unchanged;
      }
    } else o.onStatus(`base update ${from} → ${to} was postponed ${postponed} time(s), the most the policy allows: applying it now; the changes to the system disk are discarded (the user disk is kept)`);
  }
  // a release that keeps the policy: the header keeps its digest; a copy under the new version's name
  // when the current one is not policy.json (it came with an earlier update, and that file goes)
  let policyBytes = staged.policyBytes ?? o.policyBytes;
  if (staged.policyBytes === undefined && o.policyBytes !== undefined) {
    const name = versionPolicyFileName(to);
    await rm(join(stickDir, name), { force: true });
    await writeNewFileDurably(join(stickDir, name), o.policyBytes);
    await syncFolder(join(stickDir, STICK_FILES.baseDir));
    policyBytes = o.policyBytes;
  }
  await o.onStep?.("policy");
  const header: StickHeader = {
    ...o.header,
    formatVersion: formatVersionFor({ userTemplate: o.header.userTemplateDigest !== undefined, boot: release.boot !== undefined }),
    sequence: o.header.sequence + 1,
    baseVersion: to,
    manifestDigest: release.manifest.digest,
    policyDigest: policyBytes === undefined ? o.header.policyDigest : sha256(policyBytes),
  };
  delete header.bootDigest;
  if (release.boot) header.bootDigest = release.boot.digest;
  // the commit point: copy 1 names the new version while copy 0 still names the old one
  await writeHeaderSlot(stickDir, 1, header, secrets.headerMacKey);
  await o.onStep?.("header-first");
  await writeHeaderSlot(stickDir, 0, header, secrets.headerMacKey);
  await o.onStep?.("header-second");
  o.onStatus(`base update applied: base version ${from} → ${to}`);
  const reclaimed = await reclaim(stickDir, header, downloading);
  if (reclaimed.files > 0) o.onStatus(`reclaimed ${reclaimed.files} file(s) of base version ${from} (${reclaimed.packs} pack(s))`);
  await o.onStep?.("reclaimed");
  return { header, policyBytes, applied: { from, to } };
}
