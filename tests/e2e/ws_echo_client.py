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
# (name, what is sent, the one message that must come back)
FRAGMENTED = [
    ("fragmented text", ["frag", "men", "ted 😀"], "fragmented 😀"),
    ("fragmented binary", [b"\x00\x01", b"", b"\xff" * 70_000], b"\x00\x01" + b"\xff" * 70_000),
]


def describe(value):
    kind = "text" if isinstance(value, str) else "binary"
    return f"{kind} of {len(value)}"


def difference(name, sent, echo):
    """None if the echo equals what was sent; else what differs, in words."""
    if type(echo) is type(sent) and echo == sent:
        return None
    detail = f"{name}: sent {describe(sent)}, echo is {describe(echo)}"
    if type(echo) is type(sent):
        first = next((i for i, (a, b) in enumerate(zip(sent, echo)) if a != b), None)
        detail += f"; first difference at {first if first is not None else min(len(sent), len(echo))}"
    return detail


async def run(url):
    """Returns None when every echo was equal and the close was clean, else what went wrong."""
    # max_size=None: the 1 MiB echo is larger than the library's default limit.
    async with websockets.connect(url, max_size=None, open_timeout=10, close_timeout=10) as ws:
        count = 0
        cases = [(name, sent, sent) for name, sent in messages()] + FRAGMENTED
        for name, sent, whole in cases:
            await ws.send(sent)
            problem = difference(name, whole, await ws.recv())
            if problem:
                return problem
            count += 1
        await ws.close(code=1000, reason="done")
    # close_code is what the server's Close frame said.
    if ws.close_code != 1000:
        return f"close: the server answered {ws.close_code}, not 1000"
    print(f"python websockets {websockets.__version__}: {count} echoes equal, closed with 1000")
    return None


if __name__ == "__main__":
    problem = asyncio.run(asyncio.wait_for(run(sys.argv[1]), timeout=60))
    if problem:
        print(problem, file=sys.stderr)
        sys.exit(1)
