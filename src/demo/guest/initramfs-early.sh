# Sourced first by every stickvm initramfs /init (src/demo/initramfs.ts puts it in as
# /lib/early.sh): busybox's applets, the kernel's file systems, and the modules Debian's kernel
# lacks, in the load order /lib/modules/order gives.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
# Only panics reach the console from here on: the guest's own lines stay readable.
echo 1 > /proc/sys/kernel/printk
while read -r m; do
  insmod "/lib/modules/$m.ko" || echo "initramfs: insmod $m failed"
done < /lib/modules/order
