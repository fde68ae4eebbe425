# bench/lib.sh — what the bench scripts share; sourced, never run. Needs ROOT, BENCH, WORK and OUT set.
#
# Every process a script starts goes into PIDS and is stopped by its PID on exit (TERM, then KILL after 10 s);
# every load is bounded in time; everything listens on 127.0.0.1 only.

PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT

free_ports() {  # free_ports N: N loopback ports nobody listens on now, on one line
    python3 - "$1" <<'PY'
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
}

wait_port() {  # wait_port PORT [SECONDS]: until something accepts on 127.0.0.1:PORT (30 s unless told)
    for _ in $(seq $((${2:-30} * 10))); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    echo "nothing listens on 127.0.0.1:$1" >&2; return 1
}
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
child_of() {  # the single child process of PID (nginx worker, foap worker)
    for _ in $(seq 100); do
        local kids; kids="$(cat /proc/"$1"/task/*/children 2>/dev/null | tr ' ' '\n' | grep -v '^$' | head -1 || true)"
        if [[ -n "$kids" ]]; then echo "$kids"; return 0; fi
        sleep 0.1
    done
    echo "no child of $1" >&2; return 1
}

load() {  # load CONNS SECONDS PORT [wrk args…]: wrk on core 1, bounded by SECONDS + 30
    local conns=$1 seconds=$2 port=$3; shift 3
    taskset -c 1 timeout $((seconds + 30)) wrk -t1 -c"$conns" -d"${seconds}s" --timeout 10s --latency "$@" \
        "http://127.0.0.1:$port/v1/chat/completions"
}

# The mock upstream: one nginx worker on core 1 answering every request with COMPLETION.
COMPLETION='{"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,"model":"mock-model","choices":[{"index":0,"message":{"role":"assistant","content":"Hello! How can I help you today?"},"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":9,"total_tokens":18}}'
start_mock() {  # start_mock PORT…: listens on every PORT
    local user_line="" listens="" port
    [[ $EUID -eq 0 ]] && user_line="user root;"
    for port in "$@"; do listens+="        listen 127.0.0.1:$port backlog=4096;"$'\n'; done
    mkdir -p "$WORK/mock"
    cat >"$WORK/mock/nginx.conf" <<CONF
$user_line
worker_processes 1;
pid $WORK/mock/nginx.pid;
error_log $WORK/mock/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $WORK/mock/body;
    keepalive_requests 100000000;
    keepalive_timeout 300s;
    server {
$listens
        client_max_body_size 200m;
        client_body_buffer_size 2m;
        location / { default_type application/json; return 200 '$COMPLETION'; }
    }
}
CONF
    taskset -c 1 "$NGINX" -p "$WORK/mock" -c "$WORK/mock/nginx.conf" -g 'daemon off;' 2>>"$WORK/mock/error.log" &
    PIDS+=($!)
}

# The small chat completion every load sends (bench/post.lua reads it from the file named by BENCH_BODY).
SMALL_BODY='{"model":"bench-model","messages":[{"role":"user","content":"Hello"}]}'

use_small_body() {  # writes SMALL_BODY to $WORK/small.json and points BENCH_BODY at it
    printf '%s' "$SMALL_BODY" >"$WORK/small.json"
    export BENCH_BODY="$WORK/small.json"
}

write_bench_config() {  # write_bench_config MOCK_PORT: foap's one-model config dir, $WORK/configs
    mkdir -p "$WORK/configs"
    cat >"$WORK/configs/bench.json" <<CONF
{ "mock": { "target_base_url": "http://127.0.0.1:$1",
  "models": { "bench-model": { "endpoints": [ { "path": "v1/chat/completions", "target_model_name": "mock-model" } ] } } } }
CONF
}

expect_ok() {  # expect_ok PORT…: each answers SMALL_BODY with 200, or the script stops before measuring anything
    local port code
    for port in "$@"; do
        code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 -H 'Content-Type: application/json' \
            -d "$SMALL_BODY" "http://127.0.0.1:$port/v1/chat/completions")
        [[ "$code" == 200 ]] || { echo "port $port answered $code" >&2; exit 1; }
    done
}

TICK_US=$((1000000 / $(getconf CLK_TCK)))
cpu_us() {  # cpu_us PID: the user and system CPU µs PID has used so far (/proc/PID/stat; no spaces in its comm)
    awk -v tick="$TICK_US" '{ print $14 * tick, $15 * tick }' "/proc/$1/stat"
}

# bench/floor's nio-floor-relay (docs/performance.md, "The floor"), built as foap is (scripts/build-release --floor).
RELAY="$BENCH/floor/.build/release/nio-floor-relay"
build_relay() {
    timeout 1500 "$ROOT/scripts/build-release" --floor >&2
}

machine_line() {
    echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load before: $(cut -d' ' -f1-3 /proc/loadavg)"
}
