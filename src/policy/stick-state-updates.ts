import type { StickState } from "../../stick-layout/stick-state.js";
import type { Policy } from "./policy-schema.js";
import { isRevoked } from "./revocation.js";
import { checkStart, hasTimeLimits } from "./start-checks.js";
import { loadStickState, saveStickState, type StickStateAccess } from "./stick-state-file.js";

export interface StartPolicyOptions {
  access: StickStateAccess;
  policy: Policy;
  /** The signed base manifest's creation time (start-checks.ts). */
  baseCreatedMs: number;
  nowMs: number;
  /** A slot that does not open, a state that cannot be written: said, never fatal. */
  warn: (message: string) => void;
}

/**
 * The launcher's start check: refuses a revoked stick, and under a policy with time limits a
 * clock turned back, an expired stick or one offline too long (checkStart); then, under time
 * limits, records this start as the last time seen. A stick that cannot be written (full,
 * write-protected) starts all the same, with a warning: the signed base's date stays the floor.
 */
export async function enforceStartPolicy(o: StartPolicyOptions): Promise<void> {
  const { state, problems } = await loadStickState(o.access);
  for (const p of problems) o.warn(`the stick's state: ${p}`);
  checkStart({ nowMs: o.nowMs, policy: o.policy, state, stickId: o.access.stickId, baseCreatedMs: o.baseCreatedMs });
  if (!hasTimeLimits(o.policy) || (state !== undefined && state.lastSeenMs >= o.nowMs)) return;
  await saveStickState(o.access, state, { ...(state ?? { lastContactMs: 0, revoked: false }), lastSeenMs: o.nowMs }).catch((err: unknown) => {
    o.warn(`the last time seen could not be recorded on the stick: ${(err as Error).message}`);
  });
}

/**
 * What the update code calls after a successful contact with the policy's update URL (its signed
 * index fetched and verified): records the contact (the offline days start again) and, when the
 * repository's revocation list names this stick, that it is revoked (it then never starts again,
 * even offline). Returns the state written; call checkRevoked to stop the session at once.
 */
export async function noteUpdateContact(access: StickStateAccess, contact: { atMs: number; revokedIds: Iterable<string> }): Promise<StickState> {
  const { state } = await loadStickState(access);
  return saveStickState(access, state, {
    lastSeenMs: Math.max(state?.lastSeenMs ?? 0, contact.atMs),
    lastContactMs: Math.max(state?.lastContactMs ?? 0, contact.atMs),
    revoked: (state?.revoked ?? false) || isRevoked(access.stickId, contact.revokedIds),
  });
}
