#!/bin/sh
# Called by qemu-ga's guest-shutdown (virsh shutdown --mode agent) and by the serial loop.
sync; umount /data 2>/dev/null; poweroff -f
