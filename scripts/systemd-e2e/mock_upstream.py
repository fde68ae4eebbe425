#!/usr/bin/env python3
"""A tiny OpenAI-compatible upstream for scripts/systemd-e2e/run.

Usage: mock_upstream.py PORT. Listens on 127.0.0.1:PORT and answers
  GET  /v1/models            -> {"object": "list", "data": []}
  POST /v1/chat/completions  -> {"model": <the model foap forwarded>, "authorization": <the Authorization header>}
so the test sees which target model and which upstream key foap sent. Test-only: the key it echoes is a test key.
"""
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _answer(self, status, document):
        body = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/v1/models":
            self._answer(200, {"object": "list", "data": []})
        else:
            self._answer(404, {"error": {"message": "not found"}})

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        request = json.loads(self.rfile.read(length) or b"{}")
        self._answer(200, {
            "object": "chat.completion",
            "model": request.get("model"),
            "authorization": self.headers.get("Authorization", ""),
        })

    def log_message(self, *args):
        pass


if __name__ == "__main__":
    server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
    server.daemon_threads = True
    print("ready", flush=True)
    server.serve_forever()
