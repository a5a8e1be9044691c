#!/usr/bin/env bash
# The README's test command. Brings up what the tests need, runs every test project of the solution,
# and ends with one line: "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."

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
