//! Helpers of the end-to-end tests (`make e2e`): the Chrome DevTools Protocol over plainsock's
//! own WebSocket client, headless Chromium, and examples and clients run as processes.
// Each test binary uses a different part of these helpers.
#![allow(dead_code)]

pub mod cdp;
pub mod chat_page;
pub mod chromium;
pub mod example;
/// The crate's own JSON, which the tests read the browser's answers with.
pub use plainsock::json;
