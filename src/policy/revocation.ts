import { RevokedError } from "../errors/errors.js";

/** Whether a revocation list (stick ids as 32 hex digits, as `make-stick info` prints them) names this stick. */
export function isRevoked(stickId: Uint8Array, revokedIds: Iterable<string>): boolean {
  const id = Buffer.from(stickId).toString("hex");
  for (const revoked of revokedIds) if (revoked.toLowerCase() === id) return true;
  return false;
}

/** RevokedError when the list names this stick (the update repository's signed list; the update code fetches and checks it). */
export function checkRevoked(stickId: Uint8Array, revokedIds: Iterable<string>): void {
  if (isRevoked(stickId, revokedIds)) throw revokedError(stickId);
}

export function revokedError(stickId: Uint8Array): RevokedError {
  return new RevokedError(`this stick (${Buffer.from(stickId).toString("hex")}) was revoked by its administrator: it does not start any more; the data on it stays encrypted`);
}
