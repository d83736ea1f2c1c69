#!/bin/bash
# Builds the lab guest from Debian packages: the kernel's vmlinuz and a busybox initramfs with
# virtio/ext4 modules, qemu-ga (with its shared libraries) and the static workload program.
# Usage: build.sh KERNEL_VERSION OUT_DIR   (OUT_DIR receives vmlinuz and initramfs.cpio.gz)
set -euo pipefail
KVER=$1; OUT=$2
SRC=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$OUT"
ST=$(mktemp -d "$OUT/stage.XXXXXX")
trap 'rm -rf "$ST"' EXIT
mkdir -p "$ST"/{bin,sbin,dev,proc,sys,data,run,tmp,etc,usr/sbin}
cp /bin/busybox "$ST/bin/busybox"
: > "$ST/modules.order"
for m in virtio_pci virtio_blk crc32c_generic ext4 virtio_net virtio_console virtio_rng; do
  modprobe -S "$KVER" --show-depends "$m" | awk '$1=="insmod"{print $2}' | while read -r ko; do
    grep -qxF "$ko" "$ST/modules.order" && continue
    echo "$ko" >> "$ST/modules.order"; mkdir -p "$ST$(dirname "$ko")"; cp "$ko" "$ST$ko"
  done
done
cp /usr/sbin/qemu-ga "$ST/usr/sbin/"
ldd /usr/sbin/qemu-ga | awk '$3 ~ /^\//{print $3} $1 ~ /^\//{print $1}' | sort -u | while read -r lib; do
  mkdir -p "$ST$(dirname "$lib")"; cp -L "$lib" "$ST$lib"
done
gcc -static -O2 -Wall -o "$ST/workload" "$SRC/workload.c"
install -m 0755 "$SRC/init.sh" "$ST/init"
install -m 0755 "$SRC/health.sh" "$ST/health.sh"
install -m 0755 "$SRC/shutdown.sh" "$ST/sbin/shutdown"
# The product's hook, as a user installs it: qemu-ga runs it around every freeze.
install -D -m 0755 "$SRC/../../guest/fsfreeze-hook" "$ST/usr/libexec/lifeboat/fsfreeze-hook"
(cd "$ST" && find . | cpio -o -H newc --quiet | gzip -6) > "$OUT/initramfs.cpio.gz.tmp"
cp "/boot/vmlinuz-$KVER" "$OUT/vmlinuz.tmp"
mv "$OUT/initramfs.cpio.gz.tmp" "$OUT/initramfs.cpio.gz"
mv "$OUT/vmlinuz.tmp" "$OUT/vmlinuz"
