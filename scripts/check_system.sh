#!/usr/bin/env bash
# Every system tool the code and the tests call must be installed AND work; a miss stops the test
# run here with the tool, what it printed and the Debian package that provides it (the APT_PACKAGES of
# scripts/setup.sh). Run by scripts/test.sh before pytest, so a fresh machine can never
# pass by skipping or fail deep inside one test.
set -uo pipefail
cd "$(dirname "$0")/.."
VENV=${RESTOCK_VENV:-.venv}
failed=0
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

# check NAME PACKAGE EXPECTED COMMAND...: COMMAND must exit 0 and print EXPECTED (a grep -E pattern).
check() {
  local name=$1 package=$2 expected=$3
  shift 3
  local out
  out=$(timeout 120 "$@" 2>&1)
  local status=$?
  if [ $status -ne 0 ] || ! grep -qE "$expected" <<<"$out"; then
    echo "check-system: $name is missing or broken (exit $status): $* printed:" >&2
    { grep -iE "error while|cannot|not found|no such" <<<"$out" | head -3; tail -3 <<<"$out"; } | sed 's/^/    /' >&2
    echo "  -> install Debian's $package (scripts/setup.sh installs it)" >&2
    failed=1
  fi
  if [ "$package" != "-" ] && ! sed -n '/^APT_PACKAGES=(/,/^)/p' scripts/setup.sh | sed 's/#.*//' | grep -qw -- "$package"; then
    echo "check-system: $package (for $name) is not in scripts/setup.sh's APT_PACKAGES" >&2
    failed=1
  fi
}

cat > "$scratch/box.sdf" <<'SDF'
<?xml version="1.0"?>
<sdf version="1.9"><model name="box"><static>true</static><link name="l"/></model></sdf>
SDF
check "ign sdf" libsdformat-dev "Valid" ign sdf -k "$scratch/box.sdf"
check openssl openssl "OpenSSL" openssl version
check chromium chromium "Chromium" /usr/bin/chromium --version
check chromedriver chromium-driver "ChromeDriver" /usr/bin/chromedriver --version
check tcpdump tcpdump "tcpdump version" tcpdump --version
# The fleet tests start throwaway PostgreSQL clusters with Debian's initdb (off PATH, per major version).
check "PostgreSQL initdb" postgresql "initdb \(PostgreSQL\) 1[5-9]" sh -c '"$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)/initdb" --version'
check "MuJoCo EGL rendering" libegl1 "^rendered" env MUJOCO_GL=egl "$VENV/bin/python" -c '
import mujoco
m = mujoco.MjModel.from_xml_string("<mujoco><worldbody><light pos=\"0 0 1\"/><geom size=\".1\"/></worldbody></mujoco>")
with mujoco.Renderer(m, 32, 32) as r:
    r.update_scene(mujoco.MjData(m))
    print("rendered", r.render().shape)'
# The operator app's browser test needs Node's iwer (npm ci in restock/teleop/web) and Playwright.
check "node + npm" - "^v" node --version
check "iwer (npm ci in restock/teleop/web)" - "iwer" ls restock/teleop/web/node_modules/iwer/package.json
# Playwright's driver is a Node.js binary of its own (it needs libatomic1): start it and the browser.
check "playwright driving chromium" libatomic1 "^ok" "$VENV/bin/python" -c '
from playwright.sync_api import sync_playwright
with sync_playwright() as p:
    b = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu",
        "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"])
    page = b.new_page()
    page.set_content("<p id=x>ok</p>")
    print(page.inner_text("#x"))
    b.close()'

if [ $failed -ne 0 ]; then
  echo "check-system: FAILED: run scripts/setup.sh (make test runs it first), or install what is named above" >&2
  exit 1
fi
echo "check-system: every system tool the tests need works"
