//! A `dice-mcp serve` child process: started, its URL read from its log, its log kept.

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex, mpsc},
    time::Duration,
};

use anyhow::{Context, bail};

/// A running `dice-mcp serve`.
pub struct Server {
    child: Child,
    /// The MCP URL from the `listening on` log line.
    pub url: String,
    log: Arc<Mutex<Vec<String>>>,
}

impl Server {
    /// Starts `binary serve ARGS` and waits (up to 30 s) for its `listening on` line.
    pub fn start(binary: &Path, args: &[&str]) -> anyhow::Result<Self> {
        let mut command = Command::new(binary);
        command.arg("serve").args(args);
        Self::spawn(command)
    }

    /// Starts any server that logs `listening on URL` to stderr, and waits for that line.
    pub fn spawn(mut command: Command) -> anyhow::Result<Self> {
        let binary = PathBuf::from(command.get_program());
        let mut child = command
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .with_context(|| format!("could not start {}", binary.display()))?;
        let stderr = child.stderr.take().context("no stderr from dice-mcp")?;
        let log = Arc::new(Mutex::new(Vec::new()));
        let (url_tx, url_rx) = mpsc::channel();
        std::thread::spawn({
            let log = Arc::clone(&log);
            move || {
                for line in BufReader::new(stderr).lines() {
                    let Ok(line) = line else { break };
                    if let Some(url) = listening_url(&line) {
                        let _ = url_tx.send(url);
                    }
                    if let Ok(mut log) = log.lock() {
                        log.push(line);
                    }
                }
            }
        });
        match url_rx.recv_timeout(Duration::from_secs(30)) {
            Ok(url) => Ok(Self { child, url, log }),
            Err(_) => {
                let _ = child.kill();
                let status = child.wait().ok();
                let log = log.lock().map(|l| l.join("\n")).unwrap_or_default();
                bail!("dice-mcp did not start (status {status:?}); its log:\n{log}")
            }
        }
    }

    /// The process id (the server's own: `taskset` execs it).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The log so far, last `lines` lines.
    pub fn log_tail(&self, lines: usize) -> String {
        let log = self.log.lock().map(|l| l.clone()).unwrap_or_default();
        log[log.len().saturating_sub(lines)..].join("\n")
    }

    /// Ends the process, however it takes it (for servers without a SIGTERM handler).
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends SIGTERM and waits for a clean exit.
    pub fn stop(mut self) -> anyhow::Result<()> {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let status = self.child.wait().context("waiting for dice-mcp to stop")?;
        if !status.success() {
            bail!("dice-mcp exited with {status} after SIGTERM");
        }
        Ok(())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn listening_url(line: &str) -> Option<String> {
    let rest = line.split("listening on ").nth(1)?;
    rest.split_whitespace().next().map(str::to_owned)
}

/// A port nobody listens on right now, on 127.0.0.1.
pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}
