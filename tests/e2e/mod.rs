//! Helpers of the end-to-end tests (`make e2e`): the
//! Chrome DevTools Protocol over plainsock's own WebSocket client, and headless Chromium.
// Each test binary uses a different part of these helpers.
#![allow(dead_code)]

pub mod cdp;
pub mod chromium;
/// The crate's own JSON, which the tests read the browser's answers with.
pub use plainsock::json;
