#!/bin/sh
# Called by qemu-ga's guest-shutdown (virsh shutdown --mode agent) and by the serial loop.
# The workload is asked to stop first: it finishes the record it is writing on every disk
# (a record on some disks only was never acknowledged, but it would leave a gap in the rings).
for p in $(pidof workload); do kill -TERM "$p" 2>/dev/null; done
i=0; while pidof workload >/dev/null && [ $i -lt 30 ]; do sleep 0.1; i=$((i+1)); done
sync; umount /data 2>/dev/null; poweroff -f
