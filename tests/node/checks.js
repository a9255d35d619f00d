// What both node scripts share: the command line (URL and a way of connecting), timeouts on
// every wait, and checks printed one per line (`ok NAME` / `FAIL NAME: why`, then
// `done N passed, M failed`), which the Rust tests read.

"use strict";

// `default`: polling, then the upgrade to WebSocket; or one transport only.
const TRANSPORTS = { default: ["polling", "websocket"], polling: ["polling"], websocket: ["websocket"] };

function args(script) {
  const [url, mode] = process.argv.slice(2);
  const transports = TRANSPORTS[mode];
  if (!url || !transports) {
    console.error(`usage: node ${script} URL default|polling|websocket`);
    process.exit(2);
  }
  return { url, mode, transports };
}

function within(ms, what, promise) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// Runs named checks, each within `limit` ms, and counts them.
function checker(limit) {
  const counts = { passed: 0, failed: 0 };
  async function check(name, body) {
    try {
      await within(limit, name, body());
      counts.passed++;
      console.log(`ok ${name}`);
    } catch (e) {
      counts.failed++;
      console.log(`FAIL ${name}: ${e && e.message ? e.message : e}`);
    }
  }
  function done() {
    console.log(`done ${counts.passed} passed, ${counts.failed} failed`);
    return counts.failed === 0 ? 0 : 1;
  }
  return { check, done };
}

module.exports = { args, within, checker };
