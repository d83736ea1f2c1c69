#!/bin/sh
# One health line, for the serial loop, TCP 8080 and the guest agent (guest-exec /health.sh).
echo "LIFEBOAT-HEALTH vm=$(cat /run/vmname) boots=$(cat /data/boots 2>/dev/null) seq=$(cat /run/lastseq 2>/dev/null) marker_sha256=$(sha256sum /data/marker.txt 2>/dev/null | cut -d' ' -f1)"
