#!/bin/busybox sh
# /init of the demo guest's initramfs (built by src/demo/demo-guest.ts). Names the disks by their
# virtio serials as /dev/disk/by-serial/<serial>, mounts the system disk (serial stickvm-system)
# read-write as the root and hands over to its /sbin/init.
# Modules: virtio and ext4 for the disks, button and evdev for the power button.
. /lib/early.sh

fail() {
  echo "stickvm-demo: $*; powering off"
  poweroff -f
}

# A disk may show up a moment after its driver loads.
mkdir -p /dev/disk/by-serial
tries=0
until [ -b /dev/disk/by-serial/stickvm-system ] || [ "$tries" -ge 100 ]; do
  for s in /sys/block/vd*/serial; do
    [ -e "$s" ] || continue
    d="${s%/serial}"
    ln -sf "/dev/${d##*/}" "/dev/disk/by-serial/$(cat "$s")"
  done
  tries=$((tries + 1))
  sleep 0.1
done
[ -b /dev/disk/by-serial/stickvm-system ] || fail "no disk with serial stickvm-system"
mount -t ext4 /dev/disk/by-serial/stickvm-system /mnt || fail "cannot mount the system disk"

# /dev goes along, with the disks' names in it; the system's init mounts /proc and /sys itself.
mount --move /dev /mnt/dev
umount /proc /sys
exec switch_root /mnt /sbin/init
