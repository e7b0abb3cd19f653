//! The scale test's processes: `dice-mcp serve` replicas on fixed loopback ports (so one
//! can be stopped and started again where nginx expects it), `redis-server` with an
//! append-only file (a restart keeps the sessions), and nginx running the deploy config.

use std::{
    fs,
    net::TcpStream,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use anyhow::{Context, bail};

use crate::server::{Server, free_port};

/// The nginx config the test runs, as users get it.
pub const NGINX_TEMPLATE: &str = "deploy/nginx/dice-mcp.conf.template";

/// How long a process may take to listen.
const START_TIMEOUT: Duration = Duration::from_secs(15);

/// Waits until something accepts connections on 127.0.0.1:`port`.
fn wait_for_port(port: u16, what: &str) -> anyhow::Result<()> {
    let deadline = Instant::now() + START_TIMEOUT;
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            bail!("{what} did not listen on 127.0.0.1:{port} within {START_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// Sends `signal` (`TERM`, `QUIT`) to `child` and waits for it to exit.
fn signal_and_wait(child: &mut Child, signal: &str) {
    let _ = Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status();
    let _ = child.wait();
}

/// One `dice-mcp serve` on its own loopback port.
pub struct Replica {
    pub name: String,
    binary: PathBuf,
    port: u16,
    server: Option<Server>,
}

impl Replica {
    /// Starts `binary serve --addr 127.0.0.1:PORT FLAGS` on a free port.
    pub fn start(binary: &Path, name: &str, flags: &[String]) -> anyhow::Result<Self> {
        let mut replica = Self {
            name: name.to_owned(),
            binary: binary.to_path_buf(),
            port: free_port()?,
            server: None,
        };
        replica.restart(flags)?;
        Ok(replica)
    }

    /// Stops the replica if it runs, and starts it again on its port with `flags`.
    pub fn restart(&mut self, flags: &[String]) -> anyhow::Result<()> {
        self.stop_now()?;
        let mut command = Command::new(&self.binary);
        command
            .arg("serve")
            .args(["--addr", &self.addr()])
            .args(flags)
            .env("RUST_LOG", "error,launcher=info");
        let server =
            Server::spawn(command).with_context(|| format!("could not start {}", self.name))?;
        self.server = Some(server);
        Ok(())
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base(&self) -> String {
        format!("http://{}", self.addr())
    }

    /// The running process, to stop elsewhere; the replica is stopped from here on.
    pub fn take(&mut self) -> Option<Server> {
        self.server.take()
    }

    /// SIGTERM, and waits for a clean exit, if it runs.
    pub fn stop_now(&mut self) -> anyhow::Result<()> {
        match self.server.take() {
            Some(server) => server
                .stop()
                .with_context(|| format!("{} did not stop cleanly", self.name)),
            None => Ok(()),
        }
    }

    /// The last `count` lines of its log that contain one of `marks`.
    pub fn log_lines(&self, marks: &[&str], count: usize) -> String {
        let log = self
            .server
            .as_ref()
            .map(|server| server.log_tail(usize::MAX))
            .unwrap_or_default();
        let lines: Vec<&str> = log
            .lines()
            .filter(|line| marks.iter().any(|mark| line.contains(mark)))
            // Redis being down on purpose: one such line per refused request.
            .filter(|line| !line.contains("Connection refused"))
            .collect();
        lines[lines.len().saturating_sub(count)..].join("\n")
    }

    /// The first line of its log that tells of a panic.
    pub fn log_panics(&self) -> Option<String> {
        let log = self.server.as_ref()?.log_tail(usize::MAX);
        log.lines()
            .find(|line| line.contains("panicked"))
            .map(str::to_owned)
    }
}

/// A `redis-server` on a loopback port, with its data in a directory; clones are the same
/// server.
#[derive(Clone)]
pub struct Redis {
    child: Arc<Mutex<Option<Child>>>,
    port: u16,
    dir: PathBuf,
}

impl Redis {
    /// Starts one on a free port, keeping its append-only file in `dir`.
    pub fn start(dir: &Path) -> anyhow::Result<Self> {
        fs::create_dir_all(dir).with_context(|| format!("could not create {}", dir.display()))?;
        let redis = Self {
            child: Arc::default(),
            port: free_port()?,
            dir: dir.to_path_buf(),
        };
        redis.spawn()?;
        Ok(redis)
    }

    fn spawn(&self) -> anyhow::Result<()> {
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--save", "", "--appendonly", "yes", "--dir"])
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("could not start redis-server (apt-get install redis-server)")?;
        *self.child.lock().map_err(|_| anyhow::anyhow!("poisoned"))? = Some(child);
        wait_for_port(self.port, "redis-server")
    }

    /// `redis://127.0.0.1:PORT/0`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// The same server, to restart from another thread.
    pub fn handle(&self) -> Self {
        self.clone()
    }

    /// SIGTERM (Redis writes its append-only file and exits), `down` of nothing, then the
    /// same server again on the same port and data.
    pub fn restart_after(&self, down: Duration) -> anyhow::Result<()> {
        self.stop();
        std::thread::sleep(down);
        self.spawn()
    }

    pub fn stop(&self) {
        if let Ok(mut child) = self.child.lock()
            && let Some(mut child) = child.take()
        {
            signal_and_wait(&mut child, "TERM");
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        if Arc::strong_count(&self.child) == 1 {
            self.stop();
        }
    }
}

/// nginx running the deploy config in front of some replicas.
pub struct Nginx {
    child: Child,
    port: u16,
}

impl Nginx {
    /// Renders `template` for `replicas` into `dir` and starts nginx on a free port.
    pub fn start(template: &str, dir: &Path, replicas: &[&Replica]) -> anyhow::Result<Self> {
        let tmp = dir.join("tmp");
        fs::create_dir_all(&tmp).with_context(|| format!("could not create {}", tmp.display()))?;
        let port = free_port()?;
        let upstreams: Vec<String> = replicas.iter().map(|r| r.addr()).collect();
        let site = render(template, &upstreams, &format!("127.0.0.1:{port}"))?;
        fs::write(dir.join("dice-mcp.conf"), site)?;
        let shown = |name: &str| dir.join(name).to_string_lossy().into_owned();
        let main = format!(
            "daemon off;\nmaster_process on;\nworker_processes 1;\npid {pid};\n\
             error_log {log} warn;\nevents {{ worker_connections 4096; }}\nhttp {{\n  \
             access_log off;\n  client_body_temp_path {tmp}/body;\n  \
             proxy_temp_path {tmp}/proxy;\n  fastcgi_temp_path {tmp}/fastcgi;\n  \
             uwsgi_temp_path {tmp}/uwsgi;\n  scgi_temp_path {tmp}/scgi;\n  \
             include {site};\n}}\n",
            pid = shown("nginx.pid"),
            log = shown("error.log"),
            tmp = shown("tmp"),
            site = shown("dice-mcp.conf"),
        );
        let conf = dir.join("nginx.conf");
        fs::write(&conf, main)?;
        let nginx = |test: bool| {
            let mut command = Command::new("nginx");
            if test {
                command.arg("-t");
            }
            command
                .arg("-p")
                .arg(dir)
                .arg("-c")
                .arg(&conf)
                .arg("-e")
                .arg(dir.join("error.log"));
            command
        };
        let checked = nginx(true).output().context("could not run nginx -t")?;
        if !checked.status.success() {
            bail!(
                "nginx refused the config in {}: {}",
                dir.display(),
                String::from_utf8_lossy(&checked.stderr)
            );
        }
        let child = nginx(false)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("could not start nginx")?;
        let nginx = Self { child, port };
        wait_for_port(port, "nginx")?;
        Ok(nginx)
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        signal_and_wait(&mut self.child, "TERM");
    }
}

/// The template with `${DICE_MCP_PROXY_LISTEN}` filled in and each line that names
/// `${DICE_MCP_UPSTREAM}` repeated once per upstream (docker compose gives one name that
/// resolves to every replica instead). Any other `${…}` left is an error.
pub fn render(template: &str, upstreams: &[String], listen: &str) -> anyhow::Result<String> {
    let mut out = String::new();
    for line in template.lines() {
        if line.contains("${DICE_MCP_UPSTREAM}") && !line.trim_start().starts_with('#') {
            for upstream in upstreams {
                out.push_str(&line.replace("${DICE_MCP_UPSTREAM}", upstream));
                out.push('\n');
            }
        } else {
            out.push_str(&line.replace("${DICE_MCP_PROXY_LISTEN}", listen));
            out.push('\n');
        }
    }
    let unfilled = out
        .lines()
        .filter(|line| !line.trim_start().starts_with('#'))
        .find(|line| line.contains("${"));
    if let Some(line) = unfilled {
        bail!("the nginx template has a variable the scale test does not fill: {line}");
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_deploy_template_renders_one_server_line_per_replica_in_each_upstream() {
        let template = fs::read_to_string(crate::workspace_root().join(NGINX_TEMPLATE)).unwrap();
        let upstreams = ["127.0.0.1:9001".to_owned(), "127.0.0.1:9002".to_owned()];
        let site = render(&template, &upstreams, "127.0.0.1:8080").unwrap();
        let servers: Vec<&str> = site
            .lines()
            .map(str::trim)
            .filter(|line| line.starts_with("server 127.0.0.1:"))
            .collect();
        assert_eq!(servers.len(), 4, "{site}");
        assert!(site.contains("listen 127.0.0.1:8080;"), "{site}");
        assert!(site.contains("hash $arg_session_id consistent;"), "{site}");
    }

    #[test]
    fn an_unknown_variable_is_refused() {
        let error = render("listen ${SOMETHING_ELSE};\n", &[], "x").unwrap_err();
        assert!(error.to_string().contains("SOMETHING_ELSE"));
    }
}
