import assert from "node:assert/strict";
import { test } from "node:test";
import { parseMacMounts } from "../../src/host/mac-mounts.js";
import { fsFamily, mountFor, parseMountInfo } from "../../src/host/mountinfo.js";

// Lines as a Debian desktop writes them for sticks mounted by udisks, and the root file system.
const MOUNTINFO = [
  "29 1 254:1 / / rw,relatime shared:1 - ext4 /dev/mapper/vg-root rw,errors=remount-ro",
  "412 29 8:17 / /media/anna/MY\\040STICK rw,nosuid,nodev,relatime shared:233 - vfat /dev/sdb1 rw,fmask=0022,dmask=0022,codepage=437,iocharset=ascii,shortname=mixed,showexec,utf8,flush,errors=remount-ro",
  "415 29 8:33 / /media/anna/EXFAT rw,nosuid,nodev,noexec,relatime shared:240 - exfat /dev/sdc1 rw,fmask=0022,dmask=0022,iocharset=utf8,errors=remount-ro",
  "418 29 8:49 / /media/anna/Win\\011Tab rw,nosuid,nodev,relatime shared:245 - ntfs3 /dev/sdd1 rw,uid=1000,gid=1000,iocharset=utf8",
  "421 29 0:52 / /mnt/fuse rw,nosuid,nodev,relatime shared:250 - fuseblk /dev/sde1 rw,user_id=0,group_id=0,allow_other,blksize=4096",
  "424 29 0:53 / /mnt/back\\134slash rw,relatime - fuse.exfat /dev/sdf1 rw,user_id=0,group_id=0",
  "",
].join("\n");

test("mountinfo lines parse into mount point, type, source and options, with octal escapes undone", () => {
  const entries = parseMountInfo(MOUNTINFO);
  assert.equal(entries.length, 6);
  const vfat = entries[1];
  assert.ok(vfat);
  assert.equal(vfat.mountPoint, "/media/anna/MY STICK");
  assert.equal(vfat.fsType, "vfat");
  assert.equal(vfat.source, "/dev/sdb1");
  assert.ok(vfat.options.includes("showexec"), "a file system option");
  assert.ok(vfat.options.includes("nosuid"), "a per-mount option");
  assert.equal(vfat.options.filter((o) => o === "rw").length, 1, "rw is in both lists and kept once");
  assert.ok(entries[2]?.options.includes("noexec"));
  assert.equal(entries[3]?.mountPoint, "/media/anna/Win\tTab");
  assert.equal(entries[5]?.mountPoint, "/mnt/back\\slash");
  assert.equal(entries[0]?.mountPoint, "/", "a line without optional fields");
});

test("a line with several optional fields or none still finds the separator; a broken line is skipped", () => {
  const entries = parseMountInfo(
    "50 29 8:1 / /a rw shared:1 master:2 propagate_from:3 - vfat /dev/sda1 rw\n51 29 8:2 / /b rw - exfat /dev/sda2 rw\ngarbage line\n",
  );
  assert.deepEqual(entries.map((e) => [e.mountPoint, e.fsType]), [["/a", "vfat"], ["/b", "exfat"]]);
});

test("the stick's mount is the deepest that holds it, the last of equals, and never a mere prefix of a name", () => {
  const entries = parseMountInfo(MOUNTINFO);
  assert.equal(mountFor(entries, "/media/anna/MY STICK/stickvm")?.fsType, "vfat");
  assert.equal(mountFor(entries, "/media/anna/MY STICK")?.fsType, "vfat");
  assert.equal(mountFor(entries, "/media/anna/EXFATX/stick")?.fsType, "ext4", "/media/anna/EXFAT does not hold /media/anna/EXFATX");
  assert.equal(mountFor(entries, "/home/anna")?.mountPoint, "/");
  const stacked = parseMountInfo(`${MOUNTINFO}430 421 8:65 / /mnt/fuse rw,noexec - vfat /dev/sdg1 rw\n`);
  assert.equal(mountFor(stacked, "/mnt/fuse/stick")?.source, "/dev/sdg1", "a later mount on the same point hides the earlier");
});

test("file system types map to the families stickvm plans for", () => {
  assert.deepEqual(
    ["vfat", "msdos", "exfat", "fuse.exfat", "ntfs", "ntfs3", "fuse.ntfs-3g", "fuseblk", "fuse.fusefat", "ext4", "btrfs"].map(fsFamily),
    ["fat", "fat", "exfat", "exfat", "ntfs", "ntfs", "ntfs", "fuse", "fat", "other", "other"],
  );
});

test("macOS mount lines parse, with spaces and parentheses in the mount point", () => {
  const entries = parseMacMounts(
    [
      "/dev/disk3s1s1 on / (apfs, sealed, local, read-only, journaled)",
      "devfs on /dev (devfs, local, nobrowse)",
      "/dev/disk4s1 on /Volumes/MY STICK (2) (exfat, local, nodev, nosuid, noowners)",
      "map auto_home on /System/Volumes/Data/home (autofs, automounted, nobrowse)",
      "not a mount line",
      "",
    ].join("\n"),
  );
  assert.equal(entries.length, 4);
  const stick = mountFor(entries, "/Volumes/MY STICK (2)/stickvm");
  assert.deepEqual(stick, { mountPoint: "/Volumes/MY STICK (2)", fsType: "exfat", source: "/dev/disk4s1", options: ["local", "nodev", "nosuid", "noowners"] });
  assert.ok(entries[0]?.options.includes("read-only"));
});
