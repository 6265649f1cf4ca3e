#!/usr/bin/env bash
# Runs every test: unit and integration tests on SQLite, then the integration suite again on
# PostgreSQL when TEST_POSTGRES_URL is set (e.g. postgres://postgres@127.0.0.1:5432/postgres).
# Each PostgreSQL test creates and drops a database of its own on that server. Then the browser
# tests: the web inbox in Debian's headless Chromium (/usr/bin/chromium) through playwright-core
# (installed from tests/browser/package-lock.json; it never downloads a browser), with the demo on
# SQLite and, when TEST_POSTGRES_URL is set, again on PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."

# Outside tools the tests call, installed when missing with the system's package manager (as
# root; otherwise it says what to install): oathtool (the TOTP interop test) and Debian's
# chromium (the browser tests; skip them with VEIL_SKIP_BROWSER=1).
need=()
command -v oathtool >/dev/null 2>&1 || need+=(oathtool)
if [ "${VEIL_SKIP_BROWSER:-}" != "1" ] && [ ! -x /usr/bin/chromium ]; then need+=(chromium); fi
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "== installing ${need[*]} (apt-get) =="
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "missing: ${need[*]}; install them (Debian: sudo apt-get install ${need[*]})" >&2
    exit 1
  fi
fi
command -v oathtool >/dev/null || { echo "oathtool is required for the TOTP interop test" >&2; exit 1; }

echo "== unit and integration tests (SQLite) =="
cargo test --workspace --all-targets

if [ -n "${TEST_POSTGRES_URL:-}" ]; then
  echo "== integration tests (PostgreSQL) =="
  log=$(mktemp)
  cargo test -p veil --test it 2>&1 | tee "$log"
  # The suite must really have run there: at least one test passed and none failed.
  if ! grep -Eq '^test result: ok\. [1-9][0-9]* passed' "$log"; then
    echo "PostgreSQL integration tests did not run" >&2
    exit 1
  fi
  grep -q 'api::the_backend_is_the_one_ci_asked_for ... ok' "$log" || { echo "backend check missing" >&2; exit 1; }
  # The several-nodes tests run only on PostgreSQL: they must have run here.
  grep -q 'nodes::two_nodes_share_the_work_and_one_dies_without_losing_or_repeating_anything ... ok' "$log" \
    || { echo "the multi-node test did not run" >&2; exit 1; }
  rm -f "$log"
else
  echo "(TEST_POSTGRES_URL not set: PostgreSQL part skipped)"
fi

echo "== browser tests (headless Chromium) =="
if [ ! -x /usr/bin/chromium ]; then
  echo "/usr/bin/chromium is missing: apt-get install chromium (or set VEIL_SKIP_BROWSER=1)" >&2
  [ "${VEIL_SKIP_BROWSER:-}" = "1" ] || exit 1
else
  cargo build -p veil
  if [ ! -d tests/browser/node_modules/playwright-core ]; then
    PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --prefix tests/browser --no-audit --no-fund
  fi
  (cd tests/browser && TEST_VEIL_BIN="$PWD/../../target/debug/veil" node --test --test-concurrency=1 --test-timeout=300000)
  if [ -n "${TEST_POSTGRES_URL:-}" ]; then
    echo "== browser tests (headless Chromium, demo on PostgreSQL) =="
    db="veil_browser_$$"
    psql "$TEST_POSTGRES_URL" -qc "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
    pg_url="${TEST_POSTGRES_URL%/*}/$db"
    status=0
    (cd tests/browser && TEST_VEIL_BIN="$PWD/../../target/debug/veil" TEST_DEMO_DATABASE_URL="$pg_url" \
      node --test --test-concurrency=1 --test-timeout=300000) || status=$?
    psql "$TEST_POSTGRES_URL" -qc "DROP DATABASE $db" || true
    [ "$status" -eq 0 ] || exit "$status"
  fi
fi
