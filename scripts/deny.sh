#!/usr/bin/env bash
# Checks every dependency with cargo-deny (deny.toml): licences, bans, sources and advisories.
# Without internet (as on our CI machines) the advisories come from the offline snapshot of the
# RustSec database in ../shared/advisory-db (or $VEIL_ADVISORY_DB); with internet, pass --fetch to
# use the current database instead. Installs cargo-deny from crates.io when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! cargo deny --version >/dev/null 2>&1; then
  echo "== installing cargo-deny (cargo install --locked) =="
  cargo install --locked cargo-deny
fi

if [ "${1:-}" = "--fetch" ]; then
  exec cargo deny check
fi

snapshot="${VEIL_ADVISORY_DB:-../shared/advisory-db}"
[ -d "$snapshot/crates" ] || { echo "no advisory database at $snapshot (use --fetch online)" >&2; exit 1; }
# cargo-deny opens its databases as git checkouts under db-path, named after the database URL.
dbs=$(mktemp -d)
trap 'rm -rf "$dbs"' EXIT
db="$dbs/advisory-db-3157b0e258782691"
cp -r "$snapshot" "$db"
chmod -R u+w "$db"
git -C "$db" init -q
git -C "$db" add -A
git -C "$db" -c user.name=veil -c user.email=veil@localhost commit -qm "snapshot $(grep -m1 -o 'commit [0-9a-f]*' "$snapshot/SNAPSHOT.md" || echo)"
echo "advisories: offline snapshot ($(grep -m1 -o '([0-9-]*)' "$snapshot/SNAPSHOT.md" || echo 'date unknown'))"
# --offline keeps cargo-deny from fetching the database; the crates of every platform it reads
# the licences of come first from crates.io.
cargo fetch --locked --quiet
VEIL_ADVISORY_DBS="$dbs" cargo deny --offline check
