// Node's `ws` sends one message of SIZE bytes to URL, RUNS times, and prints the close code and
// reason the server's answer gave it each time: `close CODE REASON`. A server that closes with
// the client's bytes still unread makes the kernel send a reset, and `ws` then reports 1006
// (no Close frame read) instead of the code the server sent.

"use strict";

const WebSocket = require("ws");
const { within } = require("./checks.js");

async function once(url, size) {
  const ws = new WebSocket(url);
  ws.on("error", () => {}); // the close event below reports the end either way
  return new Promise((resolve) => {
    ws.on("open", () => ws.send("a".repeat(size)));
    ws.on("close", (code, reason) => resolve(`close ${code} ${reason}`));
  });
}

(async () => {
  const [url, size, runs] = process.argv.slice(2);
  if (!url || !(Number(size) > 0) || !(Number(runs) > 0)) {
    console.error("usage: node close_code.js URL SIZE RUNS");
    process.exit(2);
  }
  for (let i = 0; i < Number(runs); i++) {
    console.log(await within(30000, `run ${i}`, once(url, Number(size))));
  }
})().catch((e) => {
  console.log(`FAIL ${e.message}`);
  process.exit(1);
});
