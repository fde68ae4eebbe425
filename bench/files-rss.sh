#!/bin/bash
# bench/files-rss.sh: a 50 MB POST /v1/files (and an audio upload) through a real `foap serve --workers 1`;
# prints throughput and the worker's RSS before, at its peak and after (bench/probes.py). Loopback only, bounded.
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${BIN:-$ROOT/.build-release/release/foap}  # bench/run builds it; else the debug build
[ -x "$BIN" ] || BIN=$ROOT/.build/debug/foap
UP=18431; PX=18432
dir=$(mktemp -d)
cat > "$dir/files.json" <<JSON
{ "local": { "models": { "stream-model": { "endpoints": [
  {"path": "v1/files", "target_model_name": "m", "upstreams": [{"target_base_url": "http://127.0.0.1:$UP"}]},
  {"path": "v1/audio/transcriptions", "target_model_name": "m", "upstreams": [{"target_base_url": "http://127.0.0.1:$UP"}]} ] } } } }
JSON
timeout 300 python3 $ROOT/bench/upstream.py $UP & up=$!
FOAP_LOG_FORMAT=json FOAP_LOGLEVEL=warning timeout 300 "$BIN" serve --config-dir "$dir" --host 127.0.0.1 --port $PX --workers 1 > "$dir/foap.log" 2>&1 & master=$!
for i in $(seq 1 50); do curl -s -o /dev/null "http://127.0.0.1:$PX/health" && break; sleep 0.2; done
worker=$(pgrep -P $master | head -1)
echo "master=$master worker=$worker"
for kind in files upload files; do
  timeout 120 python3 $ROOT/bench/probes.py $kind $PX stream-model $((50*1024*1024)) "$worker"
done
kill $master; sleep 1; kill $up 2>/dev/null; wait 2>/dev/null
rm -rf "$dir"
