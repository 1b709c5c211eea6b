import type { StickState } from "../../stick-layout/stick-state.js";
import { PolicyRefusedError } from "../errors/errors.js";
import type { Policy } from "./policy-schema.js";
import { revokedError } from "./revocation.js";

const DAY_MS = 24 * 60 * 60 * 1000;
/**
 * How far behind the last time seen a host's clock may be before it counts as turned back: a day,
 * so that a host keeping local time in its hardware clock, or a few hours off, is not refused; the
 * day it lets a person gain is one of the policy's whole days.
 */
export const CLOCK_TOLERANCE_MS = DAY_MS;

export interface StartFacts {
  nowMs: number;
  policy: Pick<Policy, "expires" | "maxOfflineDays" | "updateUrl">;
  /** The stick's state (FORMAT.md §29); undefined when it has none that opens. */
  state: StickState | undefined;
  stickId: Uint8Array;
  /**
   * When the admin signed the base manifest: no clock can be earlier, and the stick had the admin's
   * work then. A floor under the last time seen and the last contact that no edit of the state lowers.
   */
  baseCreatedMs: number;
}

/** Whether the policy limits the stick in time (then the launcher keeps the last time seen). */
export function hasTimeLimits(policy: StartFacts["policy"]): boolean {
  return policy.expires !== undefined || policy.maxOfflineDays !== undefined;
}

/** Throws RevokedError or PolicyRefusedError when the stick must not start now (docs/POLICY.md, "Refusals"). */
export function checkStart(f: StartFacts): void {
  if (f.state?.revoked === true) throw revokedError(f.stickId);
  if (!hasTimeLimits(f.policy)) return;
  const lastSeen = Math.max(f.state?.lastSeenMs ?? 0, f.baseCreatedMs);
  if (f.nowMs < lastSeen - CLOCK_TOLERANCE_MS) {
    throw new PolicyRefusedError(
      `this computer's clock says ${iso(f.nowMs)}, but this stick was already used at ${iso(lastSeen)}: the clock was turned back; set it to the right time and start again`,
    );
  }
  if (f.policy.expires !== undefined && f.nowMs >= f.policy.expires) {
    throw new PolicyRefusedError(`this stick expired at ${iso(f.policy.expires)} (its policy's expires); ask your administrator for a new one`);
  }
  if (f.policy.maxOfflineDays !== undefined) {
    const lastContact = Math.max(f.state?.lastContactMs ?? 0, f.baseCreatedMs);
    if (f.nowMs - lastContact > f.policy.maxOfflineDays * DAY_MS) {
      const days = Math.floor((f.nowMs - lastContact) / DAY_MS);
      throw new PolicyRefusedError(
        `this stick last reached its update server (${f.policy.updateUrl ?? "none"}) at ${iso(lastContact)}, ${days} days ago; its policy allows ${f.policy.maxOfflineDays} (maxOfflineDays); ask your administrator for an update`,
      );
    }
  }
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}
