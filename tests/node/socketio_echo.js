// The real socket.io-client and engine.io-client against plainsock's echo example
// (examples/socketio_echo_server.rs). Run by tests/e2e_socketio.rs:
//
//   node tests/node/socketio_echo.js http://127.0.0.1:PORT TRANSPORTS
//
// TRANSPORTS is "default" (polling, then the upgrade to WebSocket), "polling" or "websocket".
// Prints one line per check, `ok NAME` or `FAIL NAME: why`, then `done N passed, M failed`;
// exits 1 if any check failed. Every wait has a timeout, and the script exits by itself.

"use strict";
const { io } = require("socket.io-client");
const { Socket: EngineSocket } = require("engine.io-client");
const assert = require("node:assert/strict");

const { args, within, checker } = require("./checks");

const { url, mode, transports } = args("socketio_echo.js");
const PATIENCE = 5000;
const { check, done } = checker(PATIENCE * 2);

const once = (emitter, event) => within(PATIENCE, event, new Promise((resolve) => emitter.once(event, (...args) => resolve(args))));

function connect(path, auth) {
  return io(url + path, { transports, auth, reconnection: false, forceNew: true, timeout: PATIENCE });
}

async function main() {
  const socket = connect("/", { token: "123" });
  socket.on("disconnect", (reason, details) => console.log(`# disconnected: ${reason} ${details ? details.message || details.description || "" : ""}`));
  const auth = once(socket, "auth");
  await check("connects to / and gets its auth back", async () => {
    await once(socket, "connect");
    assert.deepEqual((await auth)[0], { token: "123" });
  });

  if (mode === "default") {
    await check("upgrades from polling to websocket", async () => {
      const engine = socket.io.engine;
      if (engine.transport.name !== "websocket") await once(engine, "upgrade");
      assert.equal(engine.transport.name, "websocket");
    });
  } else {
    await check(`stays on ${mode}`, async () => {
      await new Promise((r) => setTimeout(r, 700)); // past two heartbeats (300 ms + 200 ms)
      assert.equal(socket.io.engine.transport.name, mode);
      assert.ok(socket.connected, "still connected after the heartbeats");
    });
  }

  await check("an event comes back as message-back", async () => {
    const back = once(socket, "message-back");
    const args = [1, "two", { three: [true, null, 4.5] }, "é 😀"];
    socket.emit("message", ...args);
    assert.deepEqual(await back, args);
  });

  await check("an ack round-trips", async () => {
    const answer = await within(PATIENCE, "ack", new Promise((resolve) => {
      socket.emit("message-with-ack", 1, "2", { three: 3 }, (...args) => resolve(args));
    }));
    assert.deepEqual(answer, [1, "2", { three: 3 }]);
  });

  await check("a binary event round-trips", async () => {
    const back = once(socket, "message-back");
    const bytes = Buffer.from([0, 1, 2, 253, 254, 255]);
    socket.emit("message", bytes, { nested: Buffer.from("hi") });
    const [first, second] = await back;
    assert.ok(Buffer.from(first).equals(bytes), `got ${first}`);
    assert.equal(Buffer.from(second.nested).toString(), "hi");
  });

  await check("a binary ack round-trips", async () => {
    const answer = await within(PATIENCE, "binary ack", new Promise((resolve) => {
      socket.emit("message-with-ack", Buffer.from([9, 8, 7]), (...args) => resolve(args));
    }));
    assert.ok(Buffer.from(answer[0]).equals(Buffer.from([9, 8, 7])));
  });

  await check("a 100 KB event round-trips", async () => {
    const back = once(socket, "message-back");
    const big = "x".repeat(100_000);
    socket.emit("message", big);
    assert.equal((await back)[0], big);
  });

  await check("/custom sends auth too", async () => {
    const custom = connect("/custom", { custom: true });
    try {
      const [got] = await once(custom, "auth");
      assert.deepEqual(got, { custom: true });
    } finally {
      custom.close();
    }
  });

  await check("an unknown namespace is refused", async () => {
    const nope = connect("/nope", {});
    try {
      const [err] = await once(nope, "connect_error");
      assert.equal(err.message, "Invalid namespace");
    } finally {
      nope.close();
    }
  });

  await check("the client disconnects cleanly", async () => {
    const gone = once(socket, "disconnect");
    socket.disconnect();
    assert.equal((await gone)[0], "io client disconnect");
  });

  await check("engine.io messages come back as they went", async () => {
    const engine = new EngineSocket(url, { path: "/engine.io/", transports });
    try {
      await once(engine, "open");
      const got = [];
      const three = new Promise((resolve) => engine.on("message", (m) => { got.push(m); if (got.length === 3) resolve(); }));
      engine.send("hello");
      engine.send(Buffer.from([1, 2, 3]));
      engine.send("é 😀");
      await within(PATIENCE, "three echoes", three);
      assert.equal(got[0], "hello");
      assert.ok(Buffer.from(got[1]).equals(Buffer.from([1, 2, 3])));
      assert.equal(got[2], "é 😀");
    } finally {
      engine.close();
    }
  });

  process.exit(done());
}

main().catch((e) => {
  console.log(`FAIL script: ${e && e.stack ? e.stack : e}`);
  process.exit(1);
});
