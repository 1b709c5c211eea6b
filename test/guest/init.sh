#!/bin/busybox sh
# /init of the stickvm test guest (built by test/helpers/guest.ts, run by its bootGuest).
# Kernel command line: stickvm.disks=<serial>,<serial>... names the disks to wait for;
# stickvm.run=<base64 shell script> is what to run. The script's output (stdout and stderr)
# goes to the console between the markers below, then the guest syncs and powers off.
# Busybox, /proc, /sys, /dev, a console quiet but for panics (so kernel lines do not land inside
# the output), and Debian's virtio and ext4 modules.
. /lib/early.sh

arg() { tr ' ' '\n' < /proc/cmdline | sed -n "s/^$1=//p"; }

# Name each disk by its virtio serial, as /dev/disk/by-serial/<serial>; a disk may show up
# a moment after its driver loads, so wait a little for every disk the host attached.
mkdir -p /dev/disk/by-serial
missing=""
tries=0
while :; do
  for s in /sys/block/vd*/serial; do
    [ -e "$s" ] || continue
    d="${s%/serial}"
    ln -sf "/dev/${d##*/}" "/dev/disk/by-serial/$(cat "$s")"
  done
  missing=""
  for want in $(arg stickvm.disks | tr ',' ' '); do
    [ -b "/dev/disk/by-serial/$want" ] || missing="$missing $want"
  done
  tries=$((tries + 1))
  [ -z "$missing" ] || [ "$tries" -ge 50 ] && break
  sleep 0.1
done

cd /tmp
if [ -n "$missing" ]; then
  echo "stickvm-guest: no disk with serial:$missing" > out
  rc=125
else
  arg stickvm.run | base64 -d > run.sh
  sh run.sh > out 2>&1 < /dev/null
  rc=$?
fi
echo "=====stickvm-guest output begin====="
cat out
# The newline ends a last line that had none; the host removes exactly this one.
echo
echo "=====stickvm-guest output end status=$rc====="
sync
poweroff -f
