#!/usr/bin/env bash
# Peak memory of a Veil node while AGENTS clients upload a MIB-sized file each, all at once,
# through the API (multipart), each then sent on to the Graph API. Veil (`veil serve`) and the
# Cloud API simulator (`veil sim`, which keeps uploads in its own memory) run as separate
# processes; curl is the load. Prints Veil's peak RSS (VmHWM from /proc) and the time taken.
# Usage: bash scripts/bench-uploads.sh [target/release/veil]   (AGENTS=10 MIB=95 by default:
# WhatsApp takes documents up to 100 MB)
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-target/release/veil}
agents=${AGENTS:-10}
mib=${MIB:-95}
dir=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
sim_port=$(free_port); veil_port=$(free_port)
"$bin" sim --listen "127.0.0.1:$sim_port" --app-secret bench-secret --access-token bench-token \
  --webhook-url "http://127.0.0.1:$veil_port/webhooks/whatsapp" >"$dir/sim.log" 2>&1 &
pids+=($!)
cat >"$dir/veil.toml" <<TOML
data_dir = "$dir/data"
[server]
listen = "127.0.0.1:$veil_port"
[whatsapp]
graph_api_base = "http://127.0.0.1:$sim_port/v23.0"
app_secret = "bench-secret"
verify_token = "bench-verify"
access_token = "bench-token"
phone_number_id = "100000000000001"
[auth]
first_owner_email = "owner@bench.veil"
TOML
"$bin" --config "$dir/veil.toml" keys init >/dev/null
token=$("$bin" --config "$dir/veil.toml" token create --name bench --scope conversation.reply \
  --scope conversation.read.all | sed -n 's/^token (shown once, store it safely): //p')
"$bin" --config "$dir/veil.toml" serve >"$dir/veil.log" 2>&1 &
veil=$!; pids+=($veil)
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$veil_port/healthz" >/dev/null && break; sleep 0.1; done
# A customer writes, so a conversation with an open 24-hour window exists.
curl -sf -H 'content-type: application/json' -d '{"from":"4915100009999","name":"Bench","text":"hi"}' \
  "http://127.0.0.1:$sim_port/_sim/inbound" >/dev/null
conv=""
for _ in $(seq 1 100); do
  conv=$(curl -sf -H "Authorization: Bearer $token" "http://127.0.0.1:$veil_port/api/v1/conversations" \
    | python3 -c 'import json,sys; c=json.load(sys.stdin)["conversations"]; print(c[0]["id"] if c else "")')
  [ -n "$conv" ] && break; sleep 0.1
done
[ -n "$conv" ] || { echo "no conversation" >&2; exit 1; }
# A PDF-looking document of MIB MiB (less a little, under the 100 MiB limit).
python3 - "$dir/file.pdf" "$mib" <<'PY'
import sys
size = int(sys.argv[2]) * 1024 * 1024 - 64 * 1024
with open(sys.argv[1], "wb") as f:
    f.write(b"%PDF-1.4\n")
    f.write(b"\0" * (size - 9))
PY
base=$(grep VmRSS /proc/$veil/status | awk '{print $2}')
start=$(date +%s.%N)
uploads=()
for i in $(seq 1 "$agents"); do
  curl -s -o "$dir/out.$i" -w '%{http_code}\n' -H "Authorization: Bearer $token" \
    -F "file=@$dir/file.pdf;type=application/pdf" -F "caption=file $i" \
    "http://127.0.0.1:$veil_port/api/v1/conversations/$conv/messages" >"$dir/code.$i" &
  uploads+=($!)
done
wait "${uploads[@]}" || true
accepted=$(cat "$dir"/code.* | grep -c '^202$' || true)
# Let the send worker hand every file to the simulator (or give up on it).
done_count=0
for _ in $(seq 1 600); do
  done_count=$(curl -sf -H "Authorization: Bearer $token" \
    "http://127.0.0.1:$veil_port/api/v1/conversations/$conv/messages?limit=500" | python3 -c '
import json, sys
ms = json.load(sys.stdin)["messages"]
print(sum(1 for m in ms if m["direction"] == "out" and m["status"] not in ("queued", "sending", "scheduled")))' 2>/dev/null || echo 0)
  [ "$done_count" -ge "$accepted" ] && break; sleep 0.5
done
sent=$(curl -sf "http://127.0.0.1:$sim_port/_sim/sent" | python3 -c 'import json,sys; print(sum(1 for m in json.load(sys.stdin) if m.get("kind")=="document"))' 2>/dev/null || echo 0)
end=$(date +%s.%N)
peak=$(grep VmHWM /proc/$veil/status | awk '{print $2}')
cpu=$(awk '{print ($14+$15)/100}' /proc/$veil/stat)
echo "uploads: $agents × $mib MiB at once: $accepted accepted (202), $sent sent to the Graph API"
echo "veil peak RSS: $((peak / 1024)) MiB (at rest before: $((base / 1024)) MiB); $(python3 -c "print(round($end-$start,1))") s; veil CPU $cpu s"
