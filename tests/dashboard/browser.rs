//! Headless Chromium driven through chromedriver (launched here on a free
//! port), with full-page screenshots and a few DevTools commands that plain
//! WebDriver lacks.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::wd::{Capabilities, WebDriverCompatibleCommand};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

/// What a failed step says.
pub type Step<T = ()> = Result<T, String>;

/// Turns any error into a step failure naming what was being done.
pub trait Context<T> {
    fn context(self, what: &str) -> Step<T>;
}

impl<T, E: std::fmt::Display> Context<T> for Result<T, E> {
    fn context(self, what: &str) -> Step<T> {
        self.map_err(|e| format!("{what}: {e}"))
    }
}

impl<T> Context<T> for Option<T> {
    fn context(self, what: &str) -> Step<T> {
        self.ok_or_else(|| format!("{what}: nothing there"))
    }
}

/// chromedriver, stopped when dropped.
pub struct Driver {
    child: Child,
    pub url: String,
    _profile: tempfile::TempDir,
    pub profile_dir: PathBuf,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> Step<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("binding a free port")?;
    Ok(listener.local_addr().context("reading the port")?.port())
}

fn find_binary(env: &str, names: &[&str]) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(env) {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |n| dir.join(n)))
        .find(|p| p.is_file())
}

impl Driver {
    /// Starts chromedriver on a free loopback port and waits until it
    /// answers.
    pub async fn start() -> Step<Self> {
        let binary = find_binary("CHROMEDRIVER", &["chromedriver", "chromium-driver"]).ok_or(
            "chromedriver not found: install Debian's chromium and chromium-driver \
             (apt-get install -y chromium chromium-driver), or set CHROMEDRIVER",
        )?;
        let port = free_port()?;
        let child = Command::new(&binary)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting chromedriver")?;
        let profile = tempfile::tempdir().context("making a browser profile directory")?;
        let driver = Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
            profile_dir: profile.path().to_owned(),
            _profile: profile,
        };
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Ok(driver);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(format!(
            "chromedriver ({}) did not start listening",
            binary.display()
        ))
    }

    /// A new headless Chromium session.
    pub async fn browser(&self) -> Step<Browser> {
        let mut args = vec![
            "--headless=new".to_owned(),
            "--no-sandbox".to_owned(),
            "--disable-gpu".to_owned(),
            "--disable-quic".to_owned(),
            "--no-first-run".to_owned(),
            "--disable-background-networking".to_owned(),
            "--disable-component-update".to_owned(),
            "--disable-sync".to_owned(),
            "--disable-dev-shm-usage".to_owned(),
            "--window-size=1366,900".to_owned(),
            format!("--user-data-dir={}", self.profile_dir.display()),
        ];
        args.push("--lang=en-US".to_owned());
        let mut chrome = json!({ "args": args });
        if let Some(binary) = find_binary("CHROME_BIN", &["chromium", "chromium-browser"]) {
            chrome["binary"] = json!(binary);
        }
        let mut caps = Capabilities::new();
        caps.insert("goog:chromeOptions".into(), chrome);
        caps.insert("goog:loggingPrefs".into(), json!({ "browser": "ALL" }));
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&self.url)
            .await
            .context("opening a Chromium session")?;
        Ok(Browser { client })
    }
}

/// A chromedriver command beyond W3C WebDriver: `POST /session/{id}/{path}`.
#[derive(Debug)]
struct Extension {
    path: &'static str,
    body: Value,
}

impl WebDriverCompatibleCommand for Extension {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/{}",
            session_id.unwrap_or(""),
            self.path
        ))
    }

    fn method_and_body(&self, _request_url: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(self.body.to_string()))
    }
}

/// A browser session.
pub struct Browser {
    pub client: Client,
}

impl Browser {
    /// Runs a Chrome DevTools Protocol command.
    pub async fn cdp(&self, cmd: &str, params: Value) -> Step<Value> {
        self.client
            .issue_cmd(Extension {
                path: "goog/cdp/execute",
                body: json!({ "cmd": cmd, "params": params }),
            })
            .await
            .context(cmd)
    }

    /// The browser console since the last call (chromedriver's log).
    pub async fn console(&self) -> Step<Vec<Value>> {
        let log = self
            .client
            .issue_cmd(Extension {
                path: "se/log",
                body: json!({ "type": "browser" }),
            })
            .await
            .context("reading the browser console")?;
        Ok(log.as_array().cloned().unwrap_or_default())
    }

    pub async fn goto(&self, url: &str) -> Step {
        self.client.goto(url).await.context(url)
    }

    pub async fn find(&self, css: &str) -> Step<fantoccini::elements::Element> {
        self.client
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css(css))
            .await
            .context(css)
    }

    pub async fn find_all(&self, css: &str) -> Step<Vec<fantoccini::elements::Element>> {
        self.client.find_all(Locator::Css(css)).await.context(css)
    }

    pub async fn text(&self, css: &str) -> Step<String> {
        self.find(css).await?.text().await.context(css)
    }

    pub async fn fill(&self, css: &str, value: &str) -> Step {
        let input = self.find(css).await?;
        input.clear().await.context(css)?;
        input.send_keys(value).await.context(css)
    }

    pub async fn click(&self, css: &str) -> Step {
        self.find(css).await?.click().await.context(css)
    }

    /// The page's path and query, e.g. `/runs?released=clm_…`.
    pub async fn path(&self) -> Step<String> {
        let url = self.client.current_url().await.context("current URL")?;
        Ok(match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        })
    }

    /// Waits until the page's path starts with `prefix`.
    pub async fn wait_for_path(&self, prefix: &str) -> Step<String> {
        for _ in 0..100 {
            let path = self.path().await?;
            if path.starts_with(prefix) {
                return Ok(path);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(format!(
            "the page did not reach {prefix}; it is at {}",
            self.path().await?
        ))
    }

    /// Accepts the `confirm()` dialog that a click opened.
    pub async fn accept_confirm(&self) -> Step<String> {
        for _ in 0..50 {
            if let Ok(text) = self.client.get_alert_text().await {
                self.client
                    .accept_alert()
                    .await
                    .context("accepting the dialog")?;
                return Ok(text);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err("no confirmation dialog appeared".into())
    }

    /// Runs a script; answers its value.
    pub async fn js(&self, script: &str) -> Step<Value> {
        self.client.execute(script, vec![]).await.context(script)
    }

    /// Saves a full-page PNG as `<dir>/<name>.png`.
    pub async fn screenshot(&self, dir: &Path, name: &str) -> Step<PathBuf> {
        let metrics = self.cdp("Page.getLayoutMetrics", json!({})).await?;
        let size = &metrics["cssContentSize"];
        let (width, height) = (
            size["width"].as_f64().unwrap_or(1366.0).ceil(),
            size["height"].as_f64().unwrap_or(900.0).ceil(),
        );
        let shot = self
            .cdp(
                "Page.captureScreenshot",
                json!({
                    "format": "png",
                    "captureBeyondViewport": true,
                    "clip": { "x": 0, "y": 0, "width": width, "height": height, "scale": 1 }
                }),
            )
            .await?;
        let data = shot["data"].as_str().context("screenshot data")?;
        let png = decode_base64(data)?;
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).context("writing the screenshot")?;
        Ok(path)
    }
}

/// Standard base64 (what DevTools answers), without another dependency.
fn decode_base64(text: &str) -> Step<Vec<u8>> {
    let value = |c: u8| -> Step<u32> {
        Ok(match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return Err(format!("not base64: {c}")),
        })
    };
    let bytes: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    let mut out = Vec::with_capacity(bytes.len() / 4 * 3);
    for chunk in bytes.chunks(4) {
        let data: Vec<u8> = chunk.iter().copied().filter(|&b| b != b'=').collect();
        let mut n = 0u32;
        for (i, &b) in data.iter().enumerate() {
            n |= value(b)? << (18 - 6 * i);
        }
        let count = data.len().saturating_sub(1);
        for i in 0..count {
            out.push((n >> (16 - 8 * i)) as u8);
        }
    }
    Ok(out)
}

#[test]
fn base64_decodes() {
    assert_eq!(decode_base64("aGVsbG8=").unwrap(), b"hello");
    assert_eq!(decode_base64("aGk=").unwrap(), b"hi");
    assert_eq!(decode_base64("YWJj").unwrap(), b"abc");
}
