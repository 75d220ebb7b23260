//! `herald run` as a child process whose JSON log lines a test can wait for.

use crate::helpers::{TestApp, herald_bin, wait_until};
use std::path::PathBuf;
use std::process::{Child, Stdio};

pub struct LoggedWorker {
    child: Child,
    log: PathBuf,
}

impl LoggedWorker {
    /// Starts `herald run` with the app's settings plus `extra`.
    pub fn start(app: &TestApp, extra: &[(&str, &str)]) -> Self {
        let log = std::env::temp_dir().join(format!("herald-{}.log", uuid::Uuid::new_v4()));
        let child = herald_bin()
            .arg("run")
            .envs(app.env())
            .env("RUST_LOG", "info")
            .envs(extra.iter().copied())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start herald");
        LoggedWorker { child, log }
    }

    pub fn lines(&self) -> Vec<String> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// Waits for a log line satisfying `pred`, and returns it.
    pub async fn wait_line(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        wait_until(what, || async { self.lines().iter().any(|l| pred(l)) }).await;
        self.lines().into_iter().find(|l| pred(l)).unwrap()
    }
}

impl Drop for LoggedWorker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if !std::thread::panicking() {
            let _ = std::fs::remove_file(&self.log);
        }
    }
}
