"""A third-party WebSocket client (Python's `websockets`) reads a busy room: megabytes of lines,
with a Ping from plainsock after 16 KiB and then every 128 KiB (its read receipts).

Usage: ws_room_reader.py ws://127.0.0.1:PORT/ws SENDER COUNT

Joins, prints `joined`, then reads until it has SENDER's lines `00000 ...` to COUNT-1, in
order, and prints `got COUNT in order`. The library answers the server's Pings by itself, as
any RFC 6455 client does; without those answers the server would evict it as too slow.
Exits 1 with the reason on the first surprise, or after 60 s.
"""

import asyncio
import sys

import websockets


async def run(url, sender, count):
    async with websockets.connect(url, open_timeout=10, max_size=None) as ws:
        welcome = await ws.recv()
        if not welcome.startswith("* welcome, you are "):
            return f"no welcome, got {welcome!r}"
        print("joined", flush=True)
        want = 0
        while want < count:
            line = await ws.recv()
            if not line.startswith(f"{sender}: "):
                continue
            number = int(line[len(sender) + 2 :].split()[0])
            if number != want:
                return f"line {number} came when {want} was due"
            want += 1
        print(f"got {count} in order", flush=True)
        await ws.send("/quit")
    return None


def main():
    url, sender, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    try:
        problem = asyncio.run(asyncio.wait_for(run(url, sender, count), 60))
    except Exception as e:  # a timeout, a closed connection: all are failures here
        problem = f"{type(e).__name__}: {e}"
    if problem:
        print(problem, flush=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
