"""A third-party WebSocket client (Python's `websockets`) joins plainsock's room over wss://,
through nginx terminating TLS.

Usage: wss_chat_client.py wss://127.0.0.1:PORT/ws CA.pem NICK TEXT

Trusts only CA.pem (the test's own certificate), joins, takes NICK, says TEXT, waits for the
room to send TEXT back, checks that /who shows its own address, and leaves with /quit. As soon as it is welcomed it prints
`from 127.0.0.1:PORT as guest-N`: its own end of the connection to nginx, which is what
plainsock must log for it. Exits 1 with the reason on the first surprise.

It also tries to pass for someone else (SPOOF, in the headers a proxy would add): nginx must
replace them, so plainsock still logs the real address.
"""

import asyncio
import ssl
import sys

import websockets

SPOOF = {
    "X-Forwarded-For": "203.0.113.66",
    "Forwarded": "for=203.0.113.66;proto=https;host=evil.example",
}


async def expect(ws, want):
    """Reads room lines until `want` arrives."""
    while True:
        line = await ws.recv()
        if line == want:
            return


async def run(url, ca, nick, text):
    context = ssl.create_default_context(cafile=ca)
    # websockets 14 renamed the argument (Debian 12 has 10.4).
    legacy = int(websockets.__version__.split(".")[0]) < 14
    headers = {"extra_headers" if legacy else "additional_headers": SPOOF}
    connecting = websockets.connect(
        url, ssl=context, open_timeout=10, close_timeout=10, **headers
    )
    async with connecting as ws:
        welcome = await ws.recv()
        if not welcome.startswith("* welcome, you are "):
            return f"no welcome, got {welcome!r}"
        guest = welcome.split()[4]
        host, port = ws.local_address[:2]
        print(f"from {host}:{port} as {guest}", flush=True)
        await ws.send(f"/nick {nick}")
        await expect(ws, f"* {guest} is now {nick}")
        await ws.send(text)
        await expect(ws, f"{nick}: {text}")
        # /who names each member's own end of its connection: ours, not nginx's.
        await ws.send("/who")
        who = await ws.recv()
        while " online: " not in who:
            who = await ws.recv()
        if f"{nick} (websocket from {host}:{port})" not in who:
            return f"/who does not show our own address {host}:{port}: {who!r}"
        await ws.send("/quit")
        await ws.wait_closed()
    if ws.close_code != 1000:
        return f"close: the server answered {ws.close_code}, not 1000"
    print(f"python websockets {websockets.__version__}: chatted over wss as {nick}", flush=True)
    return None


if __name__ == "__main__":
    url, ca, nick, text = sys.argv[1:5]
    problem = asyncio.run(asyncio.wait_for(run(url, ca, nick, text), timeout=30))
    if problem:
        print(problem, file=sys.stderr)
        sys.exit(1)
