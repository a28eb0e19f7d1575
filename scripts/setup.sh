#!/usr/bin/env bash
# Set up restock from nothing on Debian 12 / Python 3.11: apt packages, a virtual environment
# with ROS 2 Kilted from PyPI's ros-* wheels, the runtime dependencies, and the project itself
# installed (not editable: data_files must land in share/ for the ament index).
#   scripts/setup.sh            runtime + test tools
#   RESTOCK_TRAIN=1 scripts/setup.sh   also the training extra (Ultralytics, torch: about 6 GB)
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${RESTOCK_VENV:-.venv}
PY=${PYTHON:-python3}

# Debian packages, each with what needs it. scripts/check_system.sh proves every tool works (and is
# named here) before the tests run: a tool the code calls belongs in both.
APT_PACKAGES=(
  libegl1 libgl1-mesa-dri   # MuJoCo's headless renderer (MUJOCO_GL=egl, Mesa's software driver)
  libosmesa6                # the MUJOCO_GL=osmesa fallback
  ignition-tools            # `ign`: `ign sdf -k` validates the generated Gazebo worlds
  libsdformat12-12          # SDFormat 12, the library behind `ign sdf`
  libsdformat-dev           # the `ign sdf` plugin (cmdsdformat12.rb, sdformat12.yaml): without it `ign` finds no command
  sdformat-sdf              # the SDF schema files
  openssl                   # the teleop bridge's self-signed development certificate
  chromium chromium-driver  # the operator app's browser tests (headless)
  libatomic1                # Playwright's own Node.js driver (pip playwright) links it; Debian minbase lacks it
  tcpdump                   # scripts/dds_watch.sh: no DDS packet leaves loopback during the tests
  postgresql                # the fleet service's database; the tests start throwaway clusters (initdb, pg_ctl)
)
# Node.js and npm for the operator app's test-time JavaScript: Debian's, unless the machine has its own.
command -v npm >/dev/null 2>&1 || APT_PACKAGES+=(nodejs npm)
# Debian's python3 makes no venv without python3-venv (ensurepip).
"$PY" -c "import ensurepip, venv" 2>/dev/null || APT_PACKAGES+=(python3-venv)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing apt packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

stamp_inputs=$(cat requirements/*.txt setup.py scripts/setup.sh | sha1sum | cut -c1-12)
if [ ! -x "$VENV/bin/python" ]; then
  echo "setup: creating $VENV"
  "$PY" -m venv "$VENV"
fi
if [ "$(cat "$VENV/.restock-deps" 2>/dev/null)" != "$stamp_inputs" ]; then
  echo "setup: installing ROS 2 Kilted wheels and runtime dependencies"
  "$VENV/bin/pip" install -q --upgrade pip
  "$VENV/bin/pip" install -q -r requirements/ros-kilted.txt -r requirements/runtime-lock.txt
  echo "$stamp_inputs" > "$VENV/.restock-deps"
fi
if [ "${RESTOCK_TRAIN:-0}" = "1" ] && ! "$VENV/bin/python" -c "import ultralytics" 2>/dev/null; then
  echo "setup: installing the training extra (Ultralytics, torch)"
  "$VENV/bin/pip" install -q "ultralytics==8.4.190" "torch==2.14.1" "torchvision==0.29.1" onnx onnxslim
fi
# The operator app's test-time JavaScript (Meta's WebXR emulation runtime, iwer), pinned by package-lock.json.
(cd restock/teleop/web && npm ci --no-audit --no-fund --loglevel=error)
# The project itself, reinstalled every time so share/restock matches the working tree.
"$VENV/bin/pip" install -q --no-deps --force-reinstall . 2>&1 | grep -v "^WARNING: Location" || true
rm -rf build restock.egg-info
echo "setup: ready ($VENV)"
