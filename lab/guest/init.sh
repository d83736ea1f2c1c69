#!/bin/busybox sh
# /init of the lab guest (busybox initramfs). Kernel arguments:
#   lb.vm=NAME  lb.ip=A.B.C.D/NN  lb.data=vdb,vdc  lb.rate=5
# vda holds an ext4 system disk (marker + boot counter); every lb.data device gets the
# workload's records. Health is answered three ways: qemu-guest-agent, TCP 8080 on eth0 and a
# command loop on the serial console.
/bin/busybox --install -s /bin
export PATH=/bin:/sbin:/usr/sbin
mkdir -p /var /proc /sys /dev /run /tmp /data && ln -sf /run /var/run
mount -t proc proc /proc; mount -t sysfs sysfs /sys; mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts && mount -t devpts devpts /dev/pts
exec </dev/console >/dev/console 2>&1
for ko in $(cat /modules.order); do insmod "$ko" 2>/dev/null; done
VM=guest; IP=; DATA=; RATE=5
for a in $(cat /proc/cmdline); do case "$a" in
  lb.vm=*) VM=${a#lb.vm=};; lb.ip=*) IP=${a#lb.ip=};; lb.data=*) DATA=${a#lb.data=};; lb.rate=*) RATE=${a#lb.rate=};;
esac; done
echo "$VM" > /run/vmname; hostname "$VM"; echo 0 > /run/lastseq
i=0; while [ ! -b /dev/vda ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
if ! mount -t ext4 /dev/vda /data 2>/dev/null; then
  echo "lb-guest: /dev/vda has no filesystem, formatting"; mke2fs -q /dev/vda && mount -t ext4 /dev/vda /data
fi
[ -f /data/marker.txt ] || echo "created-by=$VM" > /data/marker.txt
echo $(( $(cat /data/boots 2>/dev/null || echo 0) + 1 )) > /data/boots; sync
for p in /sys/class/virtio-ports/*; do [ -e "$p/name" ] || continue
  [ "$(cat "$p/name")" = org.qemu.guest_agent.0 ] && /usr/sbin/qemu-ga -d -f /run/qemu-ga.pid -m virtio-serial -p "/dev/$(basename "$p")" -t /run \
    --fsfreeze-hook=/usr/libexec/lifeboat/fsfreeze-hook
done
if [ -n "$IP" ] && [ -e /sys/class/net/eth0 ]; then
  ip link set lo up; ip addr add "$IP" dev eth0; ip link set eth0 up
  (while true; do nc -l -p 8080 -e /health.sh; done) &
fi
if [ -n "$DATA" ]; then
  DEVS=; for d in $(echo "$DATA" | tr ',' ' '); do
    j=0; while [ ! -b "/dev/$d" ] && [ $j -lt 50 ]; do sleep 0.1; j=$((j+1)); done; DEVS="$DEVS /dev/$d"; done
  /workload "$VM" "$RATE" $DEVS &
fi
echo "LIFEBOAT-READY vm=$VM uptime=$(cut -d' ' -f1 /proc/uptime) boots=$(cat /data/boots) marker_sha256=$(sha256sum /data/marker.txt | cut -d' ' -f1)"
# serial command loop: health, write TEXT, sync, poweroff
while read -r cmd arg; do case "$cmd" in
  health) /health.sh;; write) echo "$arg" >> /data/marker.txt; sync; echo "LIFEBOAT-OK";;
  sync) sync; echo "LIFEBOAT-OK";; poweroff) /sbin/shutdown;; "") ;; *) echo "LIFEBOAT-UNKNOWN $cmd";;
esac; done
/sbin/shutdown
