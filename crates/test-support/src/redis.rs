//! [`RedisServer`]: a `redis-server` child process on a free loopback port, for the tests
//! of sessions shared through Redis.

use std::{
    net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

/// A `redis-server` child on 127.0.0.1, without persistence; killed on drop.
pub struct RedisServer {
    child: Child,
    port: u16,
}

impl RedisServer {
    /// Starts one on a free port; panics, saying to install it, without `redis-server`.
    pub fn start() -> Self {
        // Another test may take the free port before Redis binds it: try a few.
        let mut last = String::new();
        for _ in 0..5 {
            match Self::spawn_on(free_port()) {
                Ok(server) => return server,
                Err(why) => last = why,
            }
        }
        panic!("{last}")
    }

    /// Starts one on `port` (again, after [`Self::stop`]).
    pub fn start_on(port: u16) -> Self {
        Self::spawn_on(port).unwrap_or_else(|why| panic!("{why}"))
    }

    fn spawn_on(port: u16) -> Result<Self, String> {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|error| {
                panic!(
                    "could not start redis-server ({error}): these tests need it; install it \
                     with `apt-get install redis-server` (`cargo xtask ci` does)"
                )
            });
        let mut server = Self { child, port };
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(server.addr()).is_err() {
            if let Ok(Some(status)) = server.child.try_wait() {
                return Err(format!(
                    "redis-server on port {port} exited at once: {status}"
                ));
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "redis-server on port {port} did not listen within 10 s"
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(server)
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    /// Its URL, database 0.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// Stops it (as an outage would); the port is free again for [`Self::start_on`].
    pub fn stop(mut self) -> u16 {
        self.kill();
        self.port
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
