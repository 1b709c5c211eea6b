// The initramfs writer against an independent reader: busybox's cpio lists what the kernel
// would unpack (names, types, permissions, owners, sizes). Device numbers it does not show:
// the guest boots prove them, since the kernel opens dev/console before init runs.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { test } from "node:test";
import { BUSYBOX, hasBusyboxStatic } from "../../src/demo/busybox.js";
import { newc, S_IFCHR, S_IFDIR, S_IFREG } from "../../src/demo/cpio.js";

const skip = hasBusyboxStatic() ? false : "needs Debian's busybox-static";

test("busybox cpio reads back every entry newc writes, in order, with padding for every name and size", { skip }, () => {
  const entries = [
    { name: "bin", mode: S_IFDIR | 0o755, data: Buffer.alloc(0) },
    { name: "dev/console", mode: S_IFCHR | 0o600, data: Buffer.alloc(0), rdev: [5, 1] as const },
    // Names and sizes of every length modulo 4, so each padding case is crossed.
    ...[0, 1, 2, 3, 4, 5].map((n) => ({ name: `f${"x".repeat(n)}`, mode: S_IFREG | 0o644, data: Buffer.alloc(n, n) })),
    { name: "init", mode: S_IFREG | 0o755, data: Buffer.from("#!/bin/sh\n") },
  ];
  const listed = spawnSync(BUSYBOX, ["cpio", "-t", "-v"], { input: newc(entries), encoding: "utf8" });
  assert.equal(listed.status, 0, listed.stderr);
  const rows = listed.stdout.trim().split("\n").map((line) => line.split(/\s+/));
  assert.deepEqual(rows.map((r) => [r[0], r[1], r.at(-1)]), [
    ["drwxr-xr-x", "0/0", "bin"],
    ["crw-------", "0/0", "dev/console"],
    ...[0, 1, 2, 3, 4, 5].map((n) => ["-rw-r--r--", "0/0", `f${"x".repeat(n)}`]),
    ["-rwxr-xr-x", "0/0", "init"],
  ]);
  assert.deepEqual(rows.slice(2, 8).map((r) => r[2]), ["0", "1", "2", "3", "4", "5"]);
});
