//! A `dice-mcp serve` or `dice-mcp dev` child process: started, its URL read from its output
//! (and for `dev` its pairing codes, kept in a file), its log kept.

use std::{
    fs,
    io::{BufRead, BufReader, Read},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex, mpsc},
    time::{Duration, Instant},
};

use anyhow::{Context, bail};

/// A running `dice-mcp serve` or `dice-mcp dev`.
pub struct Server {
    child: Child,
    /// The MCP URL: from the `listening on` log line, or `dev`'s `MCP URL:` line.
    pub url: String,
    log: Arc<Mutex<Vec<String>>>,
}

/// What a line of the child's output told the starter.
enum Seen {
    Url(String),
    PairingCode,
}

/// How long a server may take to say where it listens.
const START_TIMEOUT: Duration = Duration::from_secs(30);

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
        let stderr = child.stderr.take().context("no stderr from the server")?;
        let log = Arc::new(Mutex::new(Vec::new()));
        let (seen_tx, seen) = mpsc::channel();
        keep_log(stderr, &log, seen_tx, |line| {
            listening_url(line).map(Seen::Url)
        });
        Self::wait_until_ready(child, log, &seen, false)
    }

    /// Starts `binary dev --local --addr 127.0.0.1:0` with `XDG_DATA_HOME=data` (its key pair
    /// and OAuth clients go there) and no ngrok, and waits for its MCP URL and first pairing
    /// code. Every pairing code it prints is written to `pairing_code_file` as it comes (each
    /// approval uses one up), so a client reads the current one when it needs it.
    pub fn start_dev(binary: &Path, data: &Path, pairing_code_file: &Path) -> anyhow::Result<Self> {
        let mut child = Command::new(binary)
            .args(["dev", "--local", "--addr", "127.0.0.1:0"])
            .env("XDG_DATA_HOME", data)
            .env_remove("NGROK_AUTHTOKEN")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("could not start {} dev", binary.display()))?;
        let stdout = child.stdout.take().context("no stdout from dice-mcp dev")?;
        let stderr = child.stderr.take().context("no stderr from dice-mcp dev")?;
        let log = Arc::new(Mutex::new(Vec::new()));
        let (seen_tx, seen) = mpsc::channel();
        keep_log(stderr, &log, seen_tx.clone(), |_| None);
        let file = pairing_code_file.to_path_buf();
        keep_log(stdout, &log, seen_tx, move |line| {
            if let Some(url) = line.strip_prefix("  MCP URL:") {
                return Some(Seen::Url(url.trim().to_owned()));
            }
            let code = line.strip_prefix("Pairing code:")?.trim();
            // Written aside and renamed, so a reader never sees half a code.
            let partial = file.with_extension("partial");
            let written = fs::write(&partial, code).and_then(|()| fs::rename(&partial, &file));
            written.is_ok().then_some(Seen::PairingCode)
        });
        Self::wait_until_ready(child, log, &seen, true)
    }

    /// Waits (up to [`START_TIMEOUT`]) until the URL was seen, and a pairing code when
    /// `pairing_code` asks for one; kills the child and shows its log otherwise.
    fn wait_until_ready(
        mut child: Child,
        log: Arc<Mutex<Vec<String>>>,
        seen: &mpsc::Receiver<Seen>,
        pairing_code: bool,
    ) -> anyhow::Result<Self> {
        let deadline = Instant::now() + START_TIMEOUT;
        let (mut url, mut code_seen) = (None, !pairing_code);
        while url.is_none() || !code_seen {
            match seen.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(Seen::Url(found)) => url = Some(found),
                Ok(Seen::PairingCode) => code_seen = true,
                Err(_) => {
                    let _ = child.kill();
                    let status = child.wait().ok();
                    let log = log.lock().map(|l| l.join("\n")).unwrap_or_default();
                    bail!("the server did not start (status {status:?}); its log:\n{log}")
                }
            }
        }
        let url = url.context("no URL")?;
        Ok(Self { child, url, log })
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

/// Reads `stream` line by line on a thread: each line goes into `log`, and what `read` finds
/// in it to `seen`.
fn keep_log(
    stream: impl Read + Send + 'static,
    log: &Arc<Mutex<Vec<String>>>,
    seen: mpsc::Sender<Seen>,
    read: impl Fn(&str) -> Option<Seen> + Send + 'static,
) {
    let log = Arc::clone(log);
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            if let Some(found) = read(&line) {
                let _ = seen.send(found);
            }
            if let Ok(mut log) = log.lock() {
                log.push(line);
            }
        }
    });
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
