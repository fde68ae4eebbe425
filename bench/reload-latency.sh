#!/usr/bin/env bash
# Measures hot-reload latency: the time from a config file write (temp file + rename, as editors do) until a new
# connection sees the new model in GET /v1/models, i.e. until the new generation serves. 10 runs; prints each run
# (with the master's own `reload done` duration: from reload start until every old worker stopped accepting) and
# the median.
#
# Usage: bench/reload-latency.sh [path/to/foap] [workers]   (default: .build/release/foap if built, else debug; 3)
# Needs curl and jq. Starts foap on 127.0.0.1 and a free port with a temporary config dir; stops it by PID.
set -euo pipefail
cd "$(dirname "$0")/.."

foap="${1:-}"
if [[ -z "$foap" ]]; then
    if [[ -x .build/release/foap ]]; then foap=.build/release/foap; else foap=.build/debug/foap; fi
fi
workers="${2:-3}"
runs=10
[[ -x "$foap" ]] || { echo "no foap binary at $foap (swift build first)" >&2; exit 1; }

dir="$(mktemp -d)"
pid=""
cleanup() {
    if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid"
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
    fi
    rm -rf "$dir"
}
trap cleanup EXIT

# A free port: bind port 0, read what the kernel chose, close.
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')"
mkdir "$dir/configs"

config() { # $1 = number of reload models
    local models='"chat":{"endpoints":[{"path":"v1/chat/completions","target_model_name":"m"}]}'
    for ((i = 1; i <= $1; i++)); do
        models+=",\"reload-$i\":{\"endpoints\":[{\"path\":\"v1/chat/completions\",\"target_model_name\":\"m\"}]}"
    done
    printf '{"bench":{"target_base_url":"http://127.0.0.1:9","models":{%s}}}' "$models"
}

config 0 > "$dir/configs/models.json"
FOAP_CONFIG_DIR="$dir/configs" FOAP_LOG_FORMAT=json FOAP_LOGLEVEL=info \
    "$foap" serve --workers "$workers" --host 127.0.0.1 --port "$port" > "$dir/foap.log" 2>&1 &
pid=$!

for _ in $(seq 300); do
    curl -sf "http://127.0.0.1:$port/health" > /dev/null 2>&1 && break
    sleep 0.05
done
curl -sf "http://127.0.0.1:$port/health" > /dev/null || { echo "foap did not start:" >&2; cat "$dir/foap.log" >&2; exit 1; }
# Let generation 1 settle (every worker ready) before the first measurement.
for _ in $(seq 200); do
    [[ "$(grep -c '"msg":"worker ready"' "$dir/foap.log")" -ge "$workers" ]] && break
    sleep 0.05
done

echo "foap: $foap, $workers workers, port $port"
results=()
for ((run = 1; run <= runs; run++)); do
    config "$run" > "$dir/configs/.models.json.tmp"
    start=$(date +%s%N)
    mv "$dir/configs/.models.json.tmp" "$dir/configs/models.json"
    until curl -s -H 'Connection: close' "http://127.0.0.1:$port/v1/models" | grep -q "\"reload-$run\""; do :; done
    end=$(date +%s%N)
    ms=$(( (end - start) / 1000000 ))
    generation=$((run + 1))
    # Wait for the master's record of this reload (so runs never overlap) and read its own duration.
    done_ms=""
    for _ in $(seq 400); do
        done_ms="$(jq -r "select(.msg == \"reload done\" and .generation == \"$generation\") | .duration_ms" \
            "$dir/foap.log" 2>/dev/null | head -1)"
        [[ -n "$done_ms" ]] && break
        sleep 0.05
    done
    echo "run $run: new model served after ${ms} ms (master: reload done in ${done_ms:-?} ms)"
    results+=("$ms")
done

median=$(printf '%s\n' "${results[@]}" | sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }')
echo "median: ${median} ms over $runs runs"
