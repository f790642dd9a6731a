//! Starting and stopping a real server process.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A running `strata serve` process; killed on drop.
pub(crate) struct Server {
    child: Child,
    pub(crate) base: String,
    pub(crate) client: reqwest::blocking::Client,
    _dir: tempfile::TempDir,
    pub(crate) log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Server {
    pub(crate) fn start() -> Self {
        Self::start_with(&[])
    }

    pub(crate) fn start_with(extra: &[&str]) -> Self {
        Self::start_in(None, extra)
    }

    /// Starts on `data_dir` (a fresh temporary directory when `None`).
    pub(crate) fn start_in(data_dir: Option<&std::path::Path>, extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = data_dir.unwrap_or(dir.path());
        let mut child = Command::new(env!("CARGO_BIN_EXE_strata"))
            .args(["serve", "--http-bind", "127.0.0.1:0", "--data-dir"])
            .arg(data)
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn strata");
        let stderr = child.stderr.take().expect("stderr");
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        let log2 = std::sync::Arc::clone(&log);
        // Drain stderr for the whole life of the process so the pipe never fills.
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                let url = line.find("listening on http://").map(|i| {
                    let rest = &line[i + "listening on ".len()..];
                    rest.split([',', ' ']).next().unwrap_or("").to_owned()
                });
                if let Ok(mut log) = log2.lock() {
                    log.push(line);
                }
                if let Some(url) = url {
                    let _ = tx.send(url);
                }
            }
        });
        let base = rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("server did not start; log: {:?}", log.lock().unwrap()));
        let client = reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .expect("client");
        Server {
            child,
            base,
            client,
            _dir: dir,
            log,
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// POSTs `body` to `path`; returns status and body text.
    pub(crate) fn post(
        &self,
        path: &str,
        body: impl Into<reqwest::blocking::Body>,
    ) -> (u16, String) {
        let r = self
            .client
            .post(self.url(path))
            .body(body)
            .send()
            .expect("request");
        (r.status().as_u16(), r.text().unwrap_or_default())
    }

    /// Runs SQL and returns the JSON rows.
    pub(crate) fn sql(&self, db: &str, q: &str) -> Vec<serde_json::Value> {
        let (status, body) = self.sql_raw(db, q, "json");
        assert_eq!(status, 200, "query {q:?} failed: {body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("bad JSON {body:?}: {e}"))
    }

    /// Runs SQL in `format`; returns status and body.
    pub(crate) fn sql_raw(&self, db: &str, q: &str, format: &str) -> (u16, String) {
        let r = self
            .client
            .get(self.url("/api/v3/query_sql"))
            .query(&[("db", db), ("q", q), ("format", format)])
            .send()
            .expect("request");
        (r.status().as_u16(), r.text().unwrap_or_default())
    }

    /// The server's process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The value of an unlabelled metric of `/metrics`, if it is there.
    pub(crate) fn metric(&self, name: &str) -> Option<u64> {
        let text = self
            .client
            .get(self.url("/metrics"))
            .send()
            .expect("request")
            .text()
            .expect("metrics text");
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
    }

    /// `SELECT count(*)` of a table.
    pub(crate) fn count(&self, db: &str, table: &str) -> i64 {
        let rows = self.sql(db, &format!("SELECT count(*) AS n FROM \"{table}\""));
        rows[0]["n"].as_i64().expect("count")
    }

    /// Sends SIGTERM and waits for exit; returns the exit status.
    pub(crate) fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill");
        for _ in 0..200 {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("server did not stop within 10 s of SIGTERM");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Parses a JSON error body.
pub(crate) fn error_body(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("error body is not JSON ({e}): {body}"))
}
