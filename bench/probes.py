#!/usr/bin/env python3
"""Client probes for bench/run: streaming fidelity and large bodies. Each prints one JSON object on stdout.

  probes.py stream PORT MODEL TRIALS              SSE through PORT: time to first event, gaps, coalescing
  probes.py upload PORT MODEL BYTES [PID]         multipart upload of BYTES; throughput, RSS growth of PID
  probes.py files PORT MODEL BYTES [PID]          the same as a POST /v1/files?model=MODEL (no model part)
  probes.py download PORT MODEL [PID]             20 MB download; throughput, RSS growth of PID

Only 127.0.0.1; every socket has a timeout, so a stuck proxy fails the probe instead of hanging the run.
"""
import json
import socket
import statistics
import sys
import threading
import time

TIMEOUT_S = 30


def connect(port):
    sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT_S)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def vm_rss_kb(pid):
    if not pid:
        return 0
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class RSSSampler:
    """Samples VmRSS of a pid every 5 ms while a transfer runs, to catch the peak."""

    def __init__(self, pid):
        self.pid = pid
        self.peak = vm_rss_kb(pid)
        self.before = self.peak
        self.running = True
        self.thread = threading.Thread(target=self.loop, daemon=True)

    def loop(self):
        while self.running:
            self.peak = max(self.peak, vm_rss_kb(self.pid))
            time.sleep(0.005)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.running = False
        self.thread.join()
        self.after = vm_rss_kb(self.pid)


def read_response_head(sock, buffer):
    while b"\r\n\r\n" not in buffer:
        data = sock.recv(65536)
        if not data:
            raise ConnectionError("closed before the response head")
        buffer += data
    head, rest = buffer.split(b"\r\n\r\n", 1)
    status = int(head.split(b" ", 2)[1])
    headers = {}
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        headers[name.strip().lower().decode()] = value.strip().decode()
    return status, headers, rest


def stream(port, model, trials):
    """Time from the request's last byte to the first event, the gaps between events, and reads with >1 event."""
    body = json.dumps({"model": model, "stream": True, "messages": [{"role": "user", "content": "hi"}]}).encode()
    request = (b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
               b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
    sock = connect(port)
    first_ms, gaps_ms, coalesced, events_total = [], [], 0, 0
    for trial in range(trials + 1):  # trial 0 warms the proxy's upstream pool and is not counted
        sent = time.perf_counter()
        sock.sendall(request)
        status, headers, rest = read_response_head(sock, b"")
        assert status == 200, status
        arrivals, buffer = [], rest
        if b"data: " in rest:
            arrivals.append((time.perf_counter(), rest.count(b"data: ")))
        while not buffer.endswith(b"0\r\n\r\n"):
            data = sock.recv(65536)
            if not data:
                raise ConnectionError("stream cut")
            now = time.perf_counter()
            events = data.count(b"data: ")
            if events:
                arrivals.append((now, events))
            buffer += data
        if trial == 0:
            continue
        first_ms.append((arrivals[0][0] - sent) * 1000)
        gaps_ms.extend((b[0] - a[0]) * 1000 for a, b in zip(arrivals, arrivals[1:]))
        coalesced += sum(1 for _, count in arrivals if count > 1)
        events_total += sum(count for _, count in arrivals)
    sock.close()
    return {
        "first_event_ms_p50": statistics.median(first_ms),
        "gap_ms_p50": statistics.median(gaps_ms),
        "gap_ms_max": max(gaps_ms),
        "gap_ms_min": min(gaps_ms),
        "events": events_total,
        "coalesced_reads": coalesced,
    }


def upload(port, model, size, pid, files=False):
    boundary = b"benchboundary7MA4YWxkTrZu0gW"
    # A file upload names its model in the query; an audio upload in a form field.
    first = (b"name=\"purpose\"\r\n\r\nbatch" if files else b"name=\"model\"\r\n\r\n%s" % model.encode())
    prefix = (b"--%s\r\nContent-Disposition: form-data; %s\r\n"
              b"--%s\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\n"
              b"Content-Type: application/octet-stream\r\n\r\n" % (boundary, first, boundary))
    suffix = b"\r\n--%s--\r\n" % boundary
    target = b"/v1/files?model=%s" % model.encode() if files else b"/v1/audio/transcriptions"
    head = (b"POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: multipart/form-data; boundary=%s\r\nContent-Length: %d\r\n\r\n"
            % (target, boundary, len(prefix) + size + len(suffix)))
    block = b"\x5a" * (256 * 1024)
    sock = connect(port)
    with RSSSampler(pid) as rss:
        started = time.perf_counter()
        sock.sendall(head + prefix)
        remaining = size
        while remaining > 0:
            chunk = block[: min(len(block), remaining)]
            sock.sendall(chunk)
            remaining -= len(chunk)
        sock.sendall(suffix)
        status, headers, rest = read_response_head(sock, b"")
        while len(rest) < int(headers.get("content-length", "0")):
            rest += sock.recv(65536)
        elapsed = time.perf_counter() - started
    sock.close()
    assert status == 200, (status, rest[:200])
    # The upstream answers {"received": N}: the whole body reached it (a file upload byte for byte; an audio
    # upload with its model part rewritten, so only about as long).
    received = json.loads(rest).get("received", 0)
    sent = len(prefix) + size + len(suffix)
    assert received == sent if files else abs(received - sent) < 256, (received, sent)
    return {"status": status, "mb_per_s": size / elapsed / 1e6, "seconds": elapsed, "received": received,
            "rss_before_kb": rss.before, "rss_peak_kb": rss.peak, "rss_after_kb": rss.after}


def download(port, model, pid):
    body = json.dumps({"model": model, "input": "hello", "voice": "alloy"}).encode()
    request = (b"POST /v1/audio/speech HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
               b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
    sock = connect(port)
    with RSSSampler(pid) as rss:
        started = time.perf_counter()
        sock.sendall(request)
        status, headers, rest = read_response_head(sock, b"")
        received = len(rest)
        chunked = headers.get("transfer-encoding", "") == "chunked"
        expected = int(headers.get("content-length", "-1"))
        tail = rest[-5:]
        while (received < expected) if not chunked else not tail.endswith(b"0\r\n\r\n"):
            data = sock.recv(1 << 20)
            if not data:
                break
            received += len(data)
            tail = (tail + data)[-5:]
        elapsed = time.perf_counter() - started
    sock.close()
    assert status == 200, status
    return {"status": status, "bytes": received, "mb_per_s": received / elapsed / 1e6, "seconds": elapsed,
            "rss_before_kb": rss.before, "rss_peak_kb": rss.peak, "rss_after_kb": rss.after}


def main(argv):
    kind, port, model = argv[1], int(argv[2]), argv[3]
    if kind == "stream":
        result = stream(port, model, int(argv[4]))
    elif kind == "upload":
        result = upload(port, model, int(argv[4]), int(argv[5]) if len(argv) > 5 else 0)
    elif kind == "files":
        result = upload(port, model, int(argv[4]), int(argv[5]) if len(argv) > 5 else 0, files=True)
    elif kind == "download":
        result = download(port, model, int(argv[4]) if len(argv) > 4 else 0)
    else:
        raise SystemExit(__doc__)
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv)
