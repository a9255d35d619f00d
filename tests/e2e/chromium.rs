//! Debian's headless Chromium, started for one test and always cleaned up: the process is
//! killed and its profile folder removed when the [`Chromium`] value is dropped, also when the
//! test panics.

use super::cdp::Cdp;
use super::json::Json;
use base64::Engine as _;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

pub const CHROMIUM: &str = "/usr/bin/chromium";

/// How long anything a user would wait for may take: a page to load, a line to show up.
pub const PATIENCE: Duration = Duration::from_secs(10);
/// A cold start with a fresh profile on a busy two-core machine can be slow.
const STARTUP: Duration = Duration::from_secs(30);
/// How often a waiting test looks at the page again.
const POLL: Duration = Duration::from_millis(50);
/// Chromium's stderr kept for the failure message (the last this many bytes).
const LOG_KEEP: usize = 16 * 1024;

/// A running headless Chromium.
pub struct Chromium {
    child: Child,
    profile: PathBuf,
    log: Arc<Mutex<String>>,
    /// `127.0.0.1:PORT` of the DevTools server.
    devtools: String,
    /// The browser-wide DevTools connection: opens and closes pages.
    browser: Option<Cdp>,
}

impl Chromium {
    /// Starts Chromium with a fresh profile under `target/tmp`, DevTools on a free port.
    /// `name` keeps the profiles of different tests apart.
    pub fn launch(name: &str) -> Chromium {
        Chromium::launch_with(name, &[])
    }

    /// [`Chromium::launch`] with more command-line switches, e.g. `--ignore-certificate-errors`.
    pub fn launch_with(name: &str, switches: &[&str]) -> Chromium {
        assert!(
            Path::new(CHROMIUM).exists(),
            "{CHROMIUM} is missing: apt-get install -y chromium"
        );
        let profile = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("chromium-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&profile);
        std::fs::create_dir_all(&profile).expect("create the profile folder");

        let mut child = Command::new(CHROMIUM)
            .args([
                "--headless",
                "--no-sandbox", // root in a container has no user namespaces for the sandbox
                "--disable-gpu",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-quic",
                "--window-size=900,700",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0", // a free port, announced on stderr
            ])
            .args(switches)
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start chromium");

        // Read stderr on a thread: it hands over the DevTools line, then keeps draining the pipe
        // (a full pipe would block Chromium) until the process ends.
        let log = Arc::new(Mutex::new(String::new()));
        let (found, announced) = mpsc::channel();
        let stderr = child.stderr.take().expect("piped stderr");
        let keep = log.clone();
        thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(url) = line.strip_prefix("DevTools listening on ") {
                    let _ = found.send(url.trim().to_string());
                }
                let mut log = keep.lock().unwrap_or_else(|p| p.into_inner());
                log.push_str(&line);
                log.push('\n');
                if log.len() > 2 * LOG_KEEP {
                    let cut = log.len() - LOG_KEEP;
                    let cut = (cut..log.len())
                        .find(|&i| log.is_char_boundary(i))
                        .unwrap_or(0);
                    log.drain(..cut);
                }
            }
        });

        // From here on, a panic drops `chromium`, which kills the process.
        let mut chromium = Chromium {
            child,
            profile,
            log,
            devtools: String::new(),
            browser: None,
        };
        let url = announced
            .recv_timeout(STARTUP)
            .unwrap_or_else(|_| chromium.fail("Chromium did not announce DevTools"));
        // ws://127.0.0.1:PORT/devtools/browser/ID
        chromium.devtools = url
            .strip_prefix("ws://")
            .and_then(|rest| rest.split('/').next())
            .unwrap_or_else(|| chromium.fail(&format!("odd DevTools URL {url:?}")))
            .to_string();
        match Cdp::connect(&url) {
            Ok(cdp) => chromium.browser = Some(cdp),
            Err(e) => chromium.fail(&e),
        }
        chromium
    }

    /// Opens a new tab at `url` and waits until its document has loaded.
    pub fn open(&mut self, url: &str) -> Page {
        let created = self.browser_call("Target.createTarget", Json::object([("url", url.into())]));
        let Some(target) = created.get("targetId").as_str() else {
            self.fail(&format!("Target.createTarget gave no targetId: {created}"))
        };
        // Each page has its own DevTools endpoint; one connection per page keeps the protocol
        // plain (no session ids).
        let page_url = format!("ws://{}/devtools/page/{target}", self.devtools);
        let cdp = Cdp::connect(&page_url).unwrap_or_else(|e| self.fail(&e));
        let mut page = Page {
            cdp,
            what: url.to_string(),
        };
        // The new tab starts as about:blank; wait for *this* document, fully loaded.
        let loaded = format!(
            "location.href === {} && document.readyState === 'complete'",
            Json::from(url)
        );
        page.wait_for(&loaded, "the page to load");
        page
    }

    fn browser_call(&mut self, method: &str, params: Json) -> Json {
        let result = match &mut self.browser {
            Some(cdp) => cdp.call(method, params),
            None => Err("no browser connection".to_string()),
        };
        result.unwrap_or_else(|e| self.fail(&e))
    }

    /// Panics with `what` and the end of Chromium's stderr.
    fn fail(&self, what: &str) -> ! {
        let log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        panic!("{what}\n--- chromium stderr (last lines) ---\n{log}")
    }
}

impl Drop for Chromium {
    fn drop(&mut self) {
        // Ask politely first, so Chromium takes its helper processes down with it ...
        if let Some(mut browser) = self.browser.take() {
            let _ = browser.call_within("Browser.close", Json::object([]), Duration::from_secs(2));
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            match self.child.try_wait() {
                Ok(None) => thread::sleep(POLL),
                _ => break,
            }
        }
        // ... then insist.
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// One tab, driven like a user would: focus, type, press Enter, look.
pub struct Page {
    cdp: Cdp,
    /// What the page is, for failure messages.
    what: String,
}

impl Page {
    /// Runs JavaScript in the page and returns its value (a promise is awaited). An exception
    /// fails the test with the page's message.
    pub fn eval(&mut self, expression: &str) -> Json {
        self.eval_within(expression, PATIENCE)
    }

    pub fn eval_within(&mut self, expression: &str, timeout: Duration) -> Json {
        self.try_eval(expression, timeout)
            .unwrap_or_else(|e| panic!("{}: {e}", self.what))
    }

    /// Like `eval`, but an exception in the page is an `Err` with its message.
    fn try_eval(&mut self, expression: &str, timeout: Duration) -> Result<Json, String> {
        let params = Json::object([
            ("expression", expression.into()),
            ("returnByValue", true.into()),
            ("awaitPromise", true.into()),
        ]);
        let reply = self.cdp.call_within("Runtime.evaluate", params, timeout)?;
        let exception = reply.get("exceptionDetails");
        if !exception.is_null() {
            let message = exception.get("exception").get("description");
            return Err(format!("`{expression}` threw: {message}"));
        }
        Ok(reply.get("result").get("value").clone())
    }

    /// Polls `condition` (a JavaScript expression) until it is true, for at most [`PATIENCE`].
    /// Meanwhile an exception counts as "not yet" (the page may still be loading). On timeout
    /// the test fails saying what it waited for and what the page showed.
    pub fn wait_for(&mut self, condition: &str, what: &str) {
        let deadline = Instant::now() + PATIENCE;
        let check = format!("Boolean({condition})");
        let mut last = Ok(Json::Null);
        while Instant::now() < deadline {
            last = self.try_eval(&check, PATIENCE);
            if let Ok(Json::Bool(true)) = last {
                return;
            }
            thread::sleep(POLL);
        }
        let shows = self
            .try_eval("document.body ? document.body.innerText : ''", PATIENCE)
            .unwrap_or_default();
        panic!(
            "{}: waited {PATIENCE:?} for {what}: `{condition}` is {}; the page shows:\n{}",
            self.what,
            match last {
                Ok(value) => value.to_string(),
                Err(e) => e,
            },
            shows.as_str().unwrap_or_default()
        );
    }

    /// Gives keyboard focus to the element with this id, as a click or Tab would.
    pub fn focus(&mut self, id: &str) {
        let found = self.eval(&format!(
            "(() => {{ const e = document.getElementById({}); if (e) e.focus(); \
             return document.activeElement === e; }})()",
            Json::from(id)
        ));
        assert_eq!(
            found.as_bool(),
            Some(true),
            "{}: cannot focus #{id}",
            self.what
        );
    }

    /// Types `text` into the focused element, as a keyboard (or an input method) would.
    pub fn type_text(&mut self, text: &str) {
        self.input("Input.insertText", Json::object([("text", text.into())]));
    }

    /// Presses and releases Enter. The `text` "\r" makes it a character-producing key, so a
    /// form submits just as it does for a person.
    pub fn press_enter(&mut self) {
        for kind in ["keyDown", "keyUp"] {
            let mut event = vec![
                ("type".to_string(), Json::from(kind)),
                ("key".to_string(), "Enter".into()),
                ("code".to_string(), "Enter".into()),
                ("windowsVirtualKeyCode".to_string(), 13.into()),
            ];
            if kind == "keyDown" {
                event.push(("text".to_string(), "\r".into()));
            }
            self.input("Input.dispatchKeyEvent", Json::Object(event));
        }
    }

    /// Focus `id`, type `text`, press Enter.
    pub fn enter(&mut self, id: &str, text: &str) {
        self.focus(id);
        self.type_text(text);
        self.press_enter();
    }

    fn input(&mut self, method: &str, params: Json) {
        if let Err(e) = self.cdp.call(method, params) {
            panic!("{}: {e}", self.what);
        }
    }

    /// Saves a PNG of what the page shows now.
    pub fn screenshot(&mut self, path: &Path) {
        let shot = self
            .cdp
            .call(
                "Page.captureScreenshot",
                Json::object([("format", "png".into())]),
            )
            .unwrap_or_else(|e| panic!("{}: {e}", self.what));
        let data = shot.get("data").as_str().unwrap_or_default();
        let png = base64::engine::general_purpose::STANDARD
            .decode(data)
            .expect("screenshot is base64");
        assert!(png.starts_with(b"\x89PNG"), "screenshot is not a PNG");
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("create the screenshot folder");
        }
        std::fs::write(path, png).expect("write the screenshot");
    }
}

impl Drop for Page {
    fn drop(&mut self) {
        self.cdp.close();
    }
}

/// Where the tests put what a person may want to look at: `target/e2e/`.
pub fn artifacts_dir() -> PathBuf {
    // CARGO_TARGET_TMPDIR is target/tmp; its parent is the target folder in use.
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    tmp.parent().unwrap_or(tmp).join("e2e")
}
