#!/usr/bin/env python3
"""A scriptable mock upstream for bench/run (asyncio, 127.0.0.1 only, keep-alive, no dependencies).

POST /v1/chat/completions  -> server-sent events: CHUNKS events, GAP_MS apart, the first one at once (chunked)
POST /v1/audio/speech      -> DOWNLOAD_BYTES of audio bytes with a Content-Length (the download probe)
POST /v1/audio/transcriptions and anything else -> reads the whole body, answers {"received": <bytes>}

Usage: upstream.py PORT
"""
import asyncio
import sys

CHUNKS = 50
GAP_MS = 20
DOWNLOAD_BYTES = 20 * 1024 * 1024
BLOCK = b"\x5a" * (256 * 1024)


async def read_head(reader):
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, target, _ = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            headers[name.strip().lower()] = value.strip()
    return method, target, headers


async def read_body(reader, headers):
    """Reads and drops the request body; returns its length."""
    total = 0
    if "content-length" in headers:
        remaining = int(headers["content-length"])
        while remaining > 0:
            data = await reader.read(min(remaining, 1 << 20))
            if not data:
                raise ConnectionError("client closed mid-body")
            remaining -= len(data)
            total += len(data)
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")
                break
            await reader.readexactly(size + 2)
            total += size
    return total


async def stream_events(writer):
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
                 b"Transfer-Encoding: chunked\r\n\r\n")
    for index in range(CHUNKS):
        if index:
            await asyncio.sleep(GAP_MS / 1000)
        event = b'data: {"id":"c","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"%d"}}]}\n\n' % index
        writer.write(b"%x\r\n%s\r\n" % (len(event), event))
        await writer.drain()
    done = b"data: [DONE]\n\n"
    writer.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(done), done))
    await writer.drain()


async def send_download(writer):
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: audio/mpeg\r\nContent-Length: %d\r\n\r\n" % DOWNLOAD_BYTES)
    remaining = DOWNLOAD_BYTES
    while remaining > 0:
        block = BLOCK[: min(len(BLOCK), remaining)]
        writer.write(block)
        remaining -= len(block)
        await writer.drain()


async def handle(reader, writer):
    try:
        while True:
            try:
                method, target, headers = await read_head(reader)
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            received = await read_body(reader, headers)
            path = target.split("?", 1)[0]
            if path == "/v1/chat/completions":
                await stream_events(writer)
            elif path == "/v1/audio/speech":
                await send_download(writer)
            else:
                body = b'{"received":%d}' % received
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                             % (len(body), body))
                await writer.drain()
            if headers.get("connection", "").lower() == "close":
                return
    except (ConnectionError, asyncio.IncompleteReadError):
        return
    finally:
        writer.close()


async def main(port):
    server = await asyncio.start_server(handle, "127.0.0.1", port, limit=1 << 20)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
