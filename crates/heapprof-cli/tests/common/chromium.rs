//! Headless Chromium driven through the Chrome DevTools Protocol: one page,
//! commands over a WebSocket (tungstenite, synchronous like the rest of the
//! tests), the page's console errors and uncaught exceptions collected, real
//! mouse clicks and typing, and PNG screenshots.
//!
//! Why CDP and not WebDriver: chromedriver adds a second process and package
//! and the Rust WebDriver clients need an async runtime; CDP is Chromium's own
//! protocol, and it also reports console messages and exceptions as events,
//! which WebDriver does not (without BiDi).
#![allow(dead_code)] // each test binary uses a part of it

use std::io::ErrorKind;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tungstenite::{Message, WebSocket};

/// Longest wait for one protocol answer or one condition in the page.
const STEP: Duration = Duration::from_secs(20);

/// Where screenshots go: `target/web-screenshots/` (git ignores `target/`).
pub fn screenshot_dir() -> PathBuf {
    let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/web-screenshots");
    std::fs::create_dir_all(&target).expect("create the screenshot folder");
    target
}

/// The Chromium binary: Debian's, run directly rather than through the
/// `/usr/bin/chromium` wrapper script (which adds flags of its own).
fn binary() -> Option<PathBuf> {
    ["/usr/lib/chromium/chromium", "/usr/bin/chromium"].iter().map(PathBuf::from).find(|p| p.is_file())
}

/// Chromium if it is installed; else prints why the test is skipped, or fails
/// under CI (CI=true), where `.ci/run` installs it.
pub fn chromium_or_skip(test: &str) -> Option<PathBuf> {
    if let Some(b) = binary() {
        return Some(b);
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{test}: Chromium is required under CI (apt-get install chromium)");
    }
    eprintln!("{test}: skipped: Chromium is not installed (apt-get install chromium)");
    None
}

/// A headless Chromium with one page, closed when dropped.
pub struct Browser {
    child: Child,
    socket: WebSocket<TcpStream>,
    next_id: u64,
    /// Console errors, uncaught exceptions and failed loads seen so far.
    errors: Vec<String>,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts Chromium (flags for a closed network: without them it stalls on
    /// background requests) and attaches to its first page.
    pub fn launch(binary: &Path) -> Browser {
        let profile = tempfile::tempdir().expect("a profile directory");
        let log = std::fs::File::create(profile.path().join("chromium.log")).expect("a log file");
        let child = Command::new(binary)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-extensions",
                "--disable-dev-shm-usage",
                "--hide-scrollbars",
                "--window-size=1280,1000",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start Chromium");
        let mut browser = Browser::attach(child, profile);
        for domain in ["Page.enable", "Runtime.enable", "Log.enable"] {
            browser.call(domain, json!({}));
        }
        browser
    }

    fn attach(mut child: Child, profile: tempfile::TempDir) -> Browser {
        // Chromium writes the port it chose to DevToolsActivePort when it is ready.
        let port_file = profile.path().join("DevToolsActivePort");
        let deadline = Instant::now() + STEP;
        let port = loop {
            let port = std::fs::read_to_string(&port_file)
                .ok()
                .and_then(|t| t.lines().next().and_then(|l| l.trim().parse::<u16>().ok()));
            if let Some(p) = port {
                break p;
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!("Chromium exited ({status}) before it was ready:\n{}", log_tail(profile.path()));
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("Chromium was not ready in {STEP:?}:\n{}", log_tail(profile.path()));
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let agent: ureq::Agent = ureq::Agent::config_builder().timeout_global(Some(STEP)).build().into();
        let listing = agent
            .get(format!("http://127.0.0.1:{port}/json/list"))
            .call()
            .expect("list Chromium's pages")
            .body_mut()
            .read_to_string()
            .expect("the list of pages");
        let targets: Value = serde_json::from_str(&listing).expect("JSON list of pages");
        let url = targets
            .as_array()
            .and_then(|t| t.iter().find(|t| t["type"] == "page"))
            .and_then(|t| t["webSocketDebuggerUrl"].as_str())
            .expect("a page to drive")
            .to_string();
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to DevTools");
        stream.set_read_timeout(Some(STEP)).expect("read timeout");
        let (socket, _) = tungstenite::client(url.as_str(), stream).expect("DevTools WebSocket handshake");
        Browser { child, socket, next_id: 0, errors: Vec::new(), _profile: profile }
    }

    /// Sends one command and returns its result; events that arrive meanwhile
    /// are recorded. Panics on a protocol error.
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let command = json!({"id": id, "method": method, "params": params}).to_string();
        self.socket.send(Message::text(command)).expect("send a DevTools command");
        let deadline = Instant::now() + STEP;
        loop {
            assert!(Instant::now() < deadline, "{method}: no answer in {STEP:?}");
            let message = match self.socket.read() {
                Ok(m) => m,
                Err(tungstenite::Error::Io(e))
                    if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) =>
                {
                    panic!("{method}: no answer in {STEP:?}")
                }
                Err(e) => panic!("{method}: DevTools connection: {e}"),
            };
            let Message::Text(text) = message else { continue };
            let v: Value = serde_json::from_str(text.as_str()).expect("DevTools sends JSON");
            if v["id"].as_u64() == Some(id) {
                if let Some(err) = v.get("error") {
                    panic!("{method}: {err}");
                }
                return v["result"].clone();
            }
            self.record_event(&v);
        }
    }

    fn record_event(&mut self, v: &Value) {
        let p = &v["params"];
        match v["method"].as_str() {
            Some("Runtime.exceptionThrown") => {
                let d = &p["exceptionDetails"];
                let text = d["exception"]["description"].as_str().or(d["text"].as_str()).unwrap_or("?");
                self.errors.push(format!("uncaught exception: {text} ({})", d["url"].as_str().unwrap_or("")));
            }
            Some("Runtime.consoleAPICalled") if matches!(p["type"].as_str(), Some("error" | "assert")) => {
                let args: Vec<String> = p["args"]
                    .as_array()
                    .map(|a| a.iter().map(|x| x["value"].to_string()).collect())
                    .unwrap_or_default();
                self.errors.push(format!("console.error: {}", args.join(" ")));
            }
            Some("Log.entryAdded") if p["entry"]["level"] == "error" => {
                let e = &p["entry"];
                self.errors.push(format!(
                    "{}: {} ({})",
                    e["source"].as_str().unwrap_or("log"),
                    e["text"].as_str().unwrap_or(""),
                    e["url"].as_str().unwrap_or("")
                ));
            }
            _ => {}
        }
    }

    /// Console errors, exceptions and failed loads so far (the list is emptied).
    pub fn take_errors(&mut self) -> Vec<String> {
        // A round trip, so that events sent before now have been read.
        self.call("Runtime.evaluate", json!({"expression": "0"}));
        std::mem::take(&mut self.errors)
    }

    /// Opens `url` and waits until `ready` (a JS expression) is true.
    pub fn open(&mut self, url: &str, ready: &str) {
        self.call("Page.navigate", json!({"url": url}));
        self.wait_for(ready, &format!("{url} to load"));
    }

    /// The value of a JS expression (awaited when it is a promise); panics
    /// with the page's message when it throws.
    pub fn eval(&mut self, expression: &str) -> Value {
        let r = self.call(
            "Runtime.evaluate",
            json!({"expression": expression, "awaitPromise": true, "returnByValue": true}),
        );
        if let Some(d) = r.get("exceptionDetails") {
            let text = d["exception"]["description"].as_str().or(d["text"].as_str()).unwrap_or("?");
            panic!("{expression}: {text}");
        }
        r["result"]["value"].clone()
    }

    /// Waits until the JS expression `condition` is true (bounded by STEP).
    pub fn wait_for(&mut self, condition: &str, what: &str) {
        let deadline = Instant::now() + STEP;
        let guarded =
            format!("(() => {{ try {{ return !!({condition}); }} catch (e) {{ return false; }} }})()");
        while self.eval(&guarded) != Value::Bool(true) {
            if Instant::now() > deadline {
                let error = self.eval(
                    "JSON.stringify([document.getElementById('error')?.textContent ?? '', location.href, \
                     document.readyState, performance.getEntriesByType('resource').map(e => e.name)])",
                );
                let logged = self.take_errors().join("\n");
                panic!(
                    "waited {STEP:?} for {what} ({condition}); the page's error line, URL, state and loads: {error}; logged:\n{logged}"
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A real left click at the centre of the element that `element` (a JS
    /// expression) evaluates to, scrolled into view first. Elements inside
    /// an `<object>` (the flame graph) are found with `frame`, the object.
    pub fn click(&mut self, element: &str, frame: Option<&str>) {
        let offset = match frame {
            Some(f) => {
                format!("(() => {{ const r = ({f}).getBoundingClientRect(); return [r.left, r.top]; }})()")
            }
            None => "[0, 0]".to_string(),
        };
        let locate = format!(
            "(() => {{ const e = ({element}); if (!e) return null; \
             (({}) || e).scrollIntoView({{block: 'center'}}); \
             const o = {offset}; const r = e.getBoundingClientRect(); \
             return [o[0] + r.left + r.width / 2, o[1] + r.top + r.height / 2]; }})()",
            frame.unwrap_or("null")
        );
        let at = self.eval(&locate);
        let (Some(x), Some(y)) = (at[0].as_f64(), at[1].as_f64()) else {
            panic!("nothing to click: {element}");
        };
        for kind in ["mouseMoved", "mousePressed", "mouseReleased"] {
            self.call(
                "Input.dispatchMouseEvent",
                json!({"type": kind, "x": x, "y": y, "button": "left", "clickCount": 1}),
            );
        }
    }

    /// Clicks into the input `#id`, replaces its text by typing `text`, and
    /// presses Enter when `enter`.
    pub fn type_into(&mut self, id: &str, text: &str, enter: bool) {
        self.click(&format!("document.getElementById('{id}')"), None);
        self.eval(&format!("document.getElementById('{id}').select()"));
        self.call("Input.insertText", json!({"text": text}));
        if enter {
            for kind in ["keyDown", "keyUp"] {
                self.call(
                    "Input.dispatchKeyEvent",
                    json!({"type": kind, "key": "Enter", "code": "Enter", "windowsVirtualKeyCode": 13, "text": "\r"}),
                );
            }
        }
    }

    /// Picks `value` in the `<select id=…>` and fires `change`, as a user would.
    pub fn choose(&mut self, id: &str, value: &str) {
        self.eval(&format!(
            "(() => {{ const s = document.getElementById('{id}'); s.value = {}; \
             s.dispatchEvent(new Event('change', {{bubbles: true}})); }})()",
            json!(value)
        ));
    }

    /// Saves a PNG of the window (1280×1000, scrolled to the top) as
    /// `<dir>/<name>.png`. Only the window: capturing beyond it resizes the
    /// viewport for a moment, which the pages' scripts see as a real resize.
    pub fn screenshot(&mut self, name: &str) -> PathBuf {
        self.eval("window.scrollTo(0, 0)");
        let shot = self.call("Page.captureScreenshot", json!({"format": "png"}));
        use base64::Engine;
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot["data"].as_str().expect("screenshot data"))
            .expect("base64 PNG");
        let path = screenshot_dir().join(format!("{name}.png"));
        std::fs::write(&path, png).expect("write the screenshot");
        path
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Closing politely lets Chromium end its helper processes itself.
        let close = json!({"id": u64::MAX, "method": "Browser.close", "params": {}}).to_string();
        let _ = self.socket.send(Message::text(close));
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn log_tail(profile: &Path) -> String {
    let log = std::fs::read_to_string(profile.join("chromium.log")).unwrap_or_default();
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}
