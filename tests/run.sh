#!/usr/bin/env bash
# The README's test command. Brings up what the tests need, runs every test project of the solution,
# and ends with one line: "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."

# The process-level cluster test needs redis-server and the browser test chromium; install them from Debian
# when missing (CI runs as root).
missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
[ -x /usr/bin/chromium ] || [ -n "${CHROMIUM_PATH:-}" ] || missing+=(chromium)
if [ ${#missing[@]} -gt 0 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "Installing ${missing[*]}..."
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}") >/dev/null 2>&1 \
    || echo "${missing[*]} could not be installed; the tests that need them will be skipped."
fi

# The backup tests run Azure Blob Storage's emulator, Azurite, from npm into tests/azurite (ignored by git).
if [ ! -x tests/azurite/node_modules/.bin/azurite-blob ] && command -v npm >/dev/null 2>&1; then
  echo "Installing azurite..."
  (cd tests/azurite && npm install --no-audit --no-fund --loglevel=error) >/dev/null 2>&1 \
    || echo "azurite could not be installed; the tests that need it will be skipped."
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT

# Settings are read once; keep the .NET host from watching the working tree during the run.
export DOTNET_hostBuilder__reloadConfigOnChange=false
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

dotnet test --solution SqlitePool.Orleans.sln -c Release 2>&1 | tee "$log"
rc=${PIPESTATUS[0]}

passed=$(grep -E '^\s*succeeded:\s*[0-9]+' "$log" | tail -1 | grep -Eo '[0-9]+' || true)
failed=$(grep -E '^\s*failed:\s*[0-9]+' "$log" | tail -1 | grep -Eo '[0-9]+' || true)
if [ -z "$passed" ]; then
  # No summary: the build or the runner itself failed.
  passed=0
  failed=${failed:-1}
fi
echo "${passed} passed, ${failed:-0} failed"
exit "$rc"
