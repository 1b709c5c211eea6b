import assert from "node:assert/strict";
import { test } from "node:test";
import type { StickState } from "../../stick-layout/stick-state.js";
import { checkStart, CLOCK_TOLERANCE_MS, type StartFacts } from "../../src/policy/start-checks.js";

const DAY = 24 * 60 * 60 * 1000;
const BASE = Date.UTC(2027, 0, 1);
const stickId = Buffer.alloc(16, 7);
const state = (s: Partial<StickState>): StickState => ({ sequence: 1, lastSeenMs: BASE, lastContactMs: 0, revoked: false, ...s });
const facts = (f: Partial<StartFacts>): StartFacts => ({ nowMs: BASE + DAY, policy: { expires: undefined, maxOfflineDays: undefined, updateUrl: undefined }, state: undefined, stickId, baseCreatedMs: BASE, ...f });
const offline = { expires: undefined, maxOfflineDays: 10, updateUrl: "https://u.example/" };

/** undefined when the start is allowed, else the refusal's code. */
function verdict(f: Partial<StartFacts>): string | undefined {
  try {
    checkStart(facts(f));
    return undefined;
  } catch (err) {
    return (err as { code: string }).code;
  }
}

const cases: { name: string; f: Partial<StartFacts>; want: string | undefined }[] = [
  { name: "no limits, no state", f: {}, want: undefined },
  { name: "no limits: a clock far behind does not matter", f: { nowMs: BASE - 100 * DAY, state: state({ lastSeenMs: BASE + 50 * DAY }) }, want: undefined },
  { name: "revoked, whatever the policy", f: { state: state({ revoked: true }) }, want: "REVOKED" },
  { name: "expires: one ms before", f: { policy: { ...offline, maxOfflineDays: undefined, expires: BASE + 5 * DAY }, nowMs: BASE + 5 * DAY - 1 }, want: undefined },
  { name: "expires: at the instant", f: { policy: { ...offline, maxOfflineDays: undefined, expires: BASE + 5 * DAY }, nowMs: BASE + 5 * DAY }, want: "POLICY_REFUSED" },
  { name: "offline: exactly the days allowed since the base was signed", f: { policy: offline, nowMs: BASE + 10 * DAY }, want: undefined },
  { name: "offline: one ms more", f: { policy: offline, nowMs: BASE + 10 * DAY + 1 }, want: "POLICY_REFUSED" },
  { name: "offline: a later contact counts", f: { policy: offline, nowMs: BASE + 15 * DAY, state: state({ lastSeenMs: BASE + 6 * DAY, lastContactMs: BASE + 6 * DAY }) }, want: undefined },
  { name: "offline: a state with an older contact than the base counts from the base", f: { policy: offline, nowMs: BASE + 10 * DAY, state: state({ lastContactMs: BASE - 30 * DAY }) }, want: undefined },
  { name: "clock: behind the last time seen by the tolerance", f: { policy: offline, nowMs: BASE + 3 * DAY - CLOCK_TOLERANCE_MS, state: state({ lastSeenMs: BASE + 3 * DAY }) }, want: undefined },
  { name: "clock: one ms more", f: { policy: offline, nowMs: BASE + 3 * DAY - CLOCK_TOLERANCE_MS - 1, state: state({ lastSeenMs: BASE + 3 * DAY }) }, want: "POLICY_REFUSED" },
  { name: "clock: before the signed base, with no state (deleted)", f: { policy: offline, nowMs: BASE - CLOCK_TOLERANCE_MS - 1 }, want: "POLICY_REFUSED" },
  { name: "clock turned back below an expiry is caught", f: { policy: { ...offline, maxOfflineDays: undefined, expires: BASE + 5 * DAY }, nowMs: BASE + 2 * DAY, state: state({ lastSeenMs: BASE + 6 * DAY }) }, want: "POLICY_REFUSED" },
];

for (const c of cases) {
  test(`start checks: ${c.name}`, () => {
    assert.equal(verdict(c.f), c.want);
  });
}

test("start checks: each refusal says why and what to do", () => {
  assert.throws(() => { checkStart(facts({ policy: { ...offline, maxOfflineDays: undefined, expires: BASE } })); }, { message: /expired at 2027-01-01T00:00:00.000Z .*ask your administrator/ });
  assert.throws(() => { checkStart(facts({ policy: offline, nowMs: BASE + 12 * DAY })); }, { message: /last reached its update server \(https:\/\/u.example\/\) at 2027-01-01T00:00:00.000Z, 12 days ago; its policy allows 10 \(maxOfflineDays\)/ });
  assert.throws(() => { checkStart(facts({ policy: offline, state: state({ lastSeenMs: BASE + 5 * DAY }) })); }, { message: /clock says 2027-01-02T00:00:00.000Z, but this stick was already used at 2027-01-06T00:00:00.000Z: the clock was turned back/ });
  assert.throws(() => { checkStart(facts({ state: state({ revoked: true }) })); }, { message: /this stick \(07070707070707070707070707070707\) was revoked/ });
});
