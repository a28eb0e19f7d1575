#!/usr/bin/env bash
# Prove the README's two commands on a machine that has only what they install: a throwaway
# Debian 12 chroot (debootstrap minbase + python3, make, git, ca-certificates: the README's
# prerequisites), a clean clone of this repository's HEAD inside it, then `make test` and
# `make sim ARGS=...` there. The host's pip configuration and local wheel indexes are this
# workplace's platform, not the project's, so they are bind-mounted read-only. Needs root.
#   scripts/fresh_machine.sh [ROOT]        (default /var/tmp/restock-fresh; reused if present)
#   SIM_ARGS="--days 0.05" TEST_ARGS="-x" scripts/fresh_machine.sh
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
root=${1:-/var/tmp/restock-fresh}
log=${LOG:-$root.log}
if [ ! -x "$root/usr/bin/apt-get" ]; then
  command -v debootstrap >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap
  debootstrap --variant=minbase bookworm "$root" http://deb.debian.org/debian
fi
cp /etc/resolv.conf "$root/etc/resolv.conf"
# This workplace's platform, not the project's: pip's configuration and local indexes, its egress
# CA (added to the chroot's bundle below) and npm's cafile setting.
for f in /etc/pip.conf /etc/xdg/pip /etc/npmrc /root/.npmrc /usr/local/share/ca-certificates; do
  [ -e "$f" ] && mkdir -p "$root$(dirname $f)" && cp -r "$f" "$root$(dirname $f)/"
done
mounts=()
bind() { mkdir -p "$root$2"; mount --bind "$1" "$root$2"; mounts=("$root$2" "${mounts[@]}"); }
cleanup() { for m in "${mounts[@]}"; do umount -l "$m" 2>/dev/null || true; done; }
trap cleanup EXIT
mkdir -p "$root/proc" "$root/sys"
mount -t proc proc "$root/proc"; mounts=("$root/proc" "${mounts[@]}")
bind /sys /sys; bind /dev /dev; bind /dev/pts /dev/pts
# A /dev/shm of its own: the bring-up removes Fast DDS segments no process maps, and from outside the
# chroot its processes' mappings read as other paths, so sharing the host's would let either side
# delete the other's live segments.
mkdir -p "$root/dev/shm"; mount -t tmpfs -o size=4g tmpfs "$root/dev/shm"; mounts=("$root/dev/shm" "${mounts[@]}")
bind /tmp /tmp  # the ROS_DOMAIN_ID locks, shared with test runs on the host
for d in /opt/pypi /opt/pypi-more /opt/wheels; do [ -d "$d" ] && bind "$d" "$d"; done
chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 bash -euc '
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3 make git ca-certificates >/dev/null
  update-ca-certificates >/dev/null
  echo "fresh: the machine before the two commands: $(dpkg-query -W | wc -l) packages; node: $(command -v node || echo none); chromium: $(command -v chromium || echo none); ign: $(command -v ign || echo none)"
'
rm -rf "$root/work/restock"
git clone -q "$repo" "$root/work/restock"
chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
  SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt \
  TEST_ARGS="${TEST_ARGS:-}" SIM_ARGS="${SIM_ARGS:---days 0.05}" bash -uc '
  cd /work/restock
  start=$(date +%s)
  make test ARGS="$TEST_ARGS"; test_status=$?
  echo "fresh: make test exited $test_status after $(( $(date +%s) - start )) s"
  start=$(date +%s)
  make sim ARGS="$SIM_ARGS"; sim_status=$?
  echo "fresh: make sim ARGS=\"$SIM_ARGS\" exited $sim_status after $(( $(date +%s) - start )) s"
  exit $(( test_status || sim_status ))
' 2>&1 | tee "$log"
