// The real socket.io-client in plainsock's chat room (the server's /socket.io/). Run by
// tests/e2e_socketio.rs, which has TCP, UDP and WebSocket members in the room:
//
//   node tests/node/socketio_chat.js http://127.0.0.1:PORT TRANSPORTS
//
// It joins with TRANSPORTS ("default": polling then the upgrade; "polling"; "websocket"), says
// `hello from socket.io TRANSPORTS` (with an ack), and waits for `tcp says hi`, `udp says hi`
// and `ws says hi`, which the test's members send once they have seen its hello. Prints
// `nick NICK`, then `ok NAME` or `FAIL NAME: why` per check, then `done N passed, M failed`.

"use strict";
const { io } = require("socket.io-client");
const assert = require("node:assert/strict");

const { args, within, checker } = require("./checks");

const { url, mode, transports } = args("socketio_chat.js");
const PATIENCE = 10000;
const { check, done } = checker(PATIENCE * 2);

// Every room line, and a way to wait for one that fits.
const seen = [];
const waiting = [];
function lineThat(fits, what) {
  const found = seen.find(fits);
  if (found !== undefined) return Promise.resolve(found);
  return within(PATIENCE, what, new Promise((resolve) => waiting.push({ fits, resolve })));
}

async function main() {
  const socket = io(url, { transports, reconnection: false, forceNew: true, timeout: PATIENCE });
  socket.on("chat message", (line) => {
    seen.push(line);
    for (const w of waiting.filter((w) => w.fits(line))) {
      waiting.splice(waiting.indexOf(w), 1);
      w.resolve(line);
    }
  });
  let nick = "";
  await check("joins the room and is welcomed", async () => {
    const welcome = await lineThat((l) => l.startsWith("* welcome, you are "), "the welcome");
    nick = welcome.slice("* welcome, you are ".length).split(" ")[0];
    assert.ok(nick.length > 0, welcome);
    console.log(`nick ${nick}`);
  });

  const hello = `hello from socket.io ${mode}`;
  await check("a line is acknowledged and comes back from the room", async () => {
    await within(PATIENCE, "ack", socket.emitWithAck("chat message", hello));
    await lineThat((l) => l === `${nick}: ${hello}`, "its own line");
  });

  for (const from of ["tcp", "udp", "ws"]) {
    await check(`sees the ${from} member`, async () => {
      await lineThat((l) => l.endsWith(`: ${from} says hi`), `${from} says hi`);
    });
  }

  await check(mode === "default" ? "upgrades to websocket" : `stays on ${mode}`, async () => {
    const engine = socket.io.engine;
    const want = mode === "polling" ? "polling" : "websocket";
    if (engine.transport.name !== want) await within(PATIENCE, "upgrade", new Promise((r) => engine.once("upgrade", r)));
    assert.equal(engine.transport.name, want);
  });

  await check("/who lists it with its transport", async () => {
    socket.emit("chat message", "/who");
    const who = await lineThat((l) => / online: /.test(l), "the /who answer");
    const listed = mode === "polling" ? "polling" : "socket.io";
    assert.ok(who.includes(`${nick} (${listed} from `), who);
  });

  await check("disconnects cleanly", async () => {
    const gone = within(PATIENCE, "disconnect", new Promise((r) => socket.once("disconnect", r)));
    socket.disconnect();
    assert.equal(await gone, "io client disconnect");
  });

  // No process.exit(): node ends once a polling client's last request (its close) is done.
  process.exitCode = done();
}

main().catch((e) => {
  console.log(`FAIL main: ${e && e.stack ? e.stack : e}`);
  process.exit(1);
});
