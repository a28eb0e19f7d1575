#!/usr/bin/env bash
# Watch every non-loopback interface for RTPS (DDS) packets while a command runs; fail if any.
#   scripts/dds_watch.sh COMMAND...
# RTPS packets are matched by their magic ("RTPS" at the start of the UDP payload, IPv4 or IPv6),
# whatever the port or domain. Needs tcpdump and root (CAP_NET_RAW); without them it says so and just runs COMMAND.
set -uo pipefail
dir=$(mktemp -d)
pids=()
ifaces=""
for i in $(ls /sys/class/net); do
  [ "$i" != lo ] && [ "$(cat /sys/class/net/$i/operstate 2>/dev/null)" != down ] && ifaces="$ifaces $i"
done
if command -v tcpdump >/dev/null && [ "$(id -u)" -eq 0 ] && [ -n "$ifaces" ]; then
  for i in $ifaces; do
    tcpdump -i "$i" -n -l -q \
      '(udp and udp[8:4] = 0x52545053) or (ip6 and ip6[6] = 17 and ip6[48:4] = 0x52545053)' > "$dir/$i.txt" 2>"$dir/$i.err" &
    pids+=($!)
  done
  sleep 1
  echo "dds-watch: capturing RTPS on $(echo $ifaces | tr '\n' ' ')"
else
  echo "dds-watch: not capturing (needs tcpdump, root and a non-loopback interface)"
fi
"$@"
status=$?
if [ ${#pids[@]} -gt 0 ]; then
  sleep 1
  kill -INT "${pids[@]}" 2>/dev/null; wait "${pids[@]}" 2>/dev/null
  leaked=$(cat "$dir"/*.txt | grep -c . || true)
  echo "dds-watch: $leaked RTPS packets on non-loopback interfaces during the run"
  if [ "$leaked" -gt 0 ]; then
    head -5 "$dir"/*.txt
    [ $status -eq 0 ] && status=3
  fi
fi
rm -rf "$dir"
exit $status
