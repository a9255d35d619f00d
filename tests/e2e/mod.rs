//! Helpers of the end-to-end tests (`make e2e`): a hand-written JSON reader/writer, the
//! Chrome DevTools Protocol over plainsock's own WebSocket client, and headless Chromium.
// Each test binary uses a different part of these helpers.
#![allow(dead_code)]

pub mod cdp;
pub mod chat_page;
pub mod chromium;
pub mod json;
