"""A third-party WebSocket client (Python's `websockets`) against plainsock's echo server.

Usage: ws_echo_client.py ws://127.0.0.1:PORT/

Sends text, binary, a 1 MiB binary, a large multi-byte text and two messages split into
fragments (RFC 6455 section 5.4), checks that every echo is equal and of the same type, then
closes with 1000. Prints one summary line; exits 1 on the first difference.
"""

import asyncio
import sys

import websockets


def messages():
    big_binary = bytes(i * 7 % 251 for i in range(1 << 20))  # 1 MiB, no repeating 256-period
    big_text = "plain é € 😀 " * 40_000  # about 0.6 MiB of mixed 1- to 4-byte UTF-8
    return [
        ("text", "hello"),
        ("empty text", ""),
        ("unicode text", "é € 😀 \u0000 end"),
        ("binary", bytes(range(256))),
        ("empty binary", b""),
        ("1 MiB binary", big_binary),
        ("large text", big_text),
    ]


# Sent as several frames (a list makes `websockets` fragment); echoed as one message.
FRAGMENTED = [
    ("fragmented text", ["frag", "men", "ted 😀"], "fragmented 😀"),
    ("fragmented binary", [b"\x00\x01", b"", b"\xff" * 70_000], b"\x00\x01" + b"\xff" * 70_000),
]


def describe(value):
    kind = "text" if isinstance(value, str) else "binary"
    return f"{kind} of {len(value)}"


async def run(url):
    # max_size=None: the 1 MiB echo is larger than the library's default limit.
    async with websockets.connect(url, max_size=None, open_timeout=10, close_timeout=10) as ws:
        count = 0
        for name, sent in messages():
            await ws.send(sent)
            echo = await ws.recv()
            if type(echo) is not type(sent) or echo != sent:
                raise SystemExit(f"{name}: sent {describe(sent)}, echo is {describe(echo)}")
            count += 1
        for name, fragments, whole in FRAGMENTED:
            await ws.send(fragments)
            echo = await ws.recv()
            if type(echo) is not type(whole) or echo != whole:
                raise SystemExit(f"{name}: sent {describe(whole)}, echo is {describe(echo)}")
            count += 1
        await ws.close(code=1000, reason="done")
    # close_code is what the server's Close frame said.
    if ws.close_code != 1000:
        raise SystemExit(f"close: the server answered {ws.close_code}, not 1000")
    print(f"python websockets {websockets.__version__}: {count} echoes equal, closed with 1000")


if __name__ == "__main__":
    asyncio.run(asyncio.wait_for(run(sys.argv[1]), timeout=60))
