//! A real `redis-server` as a child process, on a free local port with its own temporary
//! directory: for tests, examples and trying things out. Nothing here is a mock.
//!
//! ```no_run
//! use pushpull_redis::local::{Durability, RedisServer};
//!
//! # fn main() -> std::io::Result<()> {
//! let mut server = RedisServer::start(Durability::AppendAlways)?;
//! println!("redis at {}", server.url());
//! server.restart()?; // SIGTERM, then start again on the same port and data
//! # Ok(())
//! # }
//! ```

use std::fmt;
use std::io::{self, BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// What the server writes to disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Nothing: a restart starts empty.
    None,
    /// The append-only file, fsynced before each write is acknowledged
    /// (`appendfsync always`): nothing acknowledged is lost, even to a crash.
    AppendAlways,
    /// The append-only file, fsynced once a second (`appendfsync everysec`, Redis's
    /// default): a clean stop loses nothing, a crash up to a second of writes.
    AppendEverySec,
}

/// A `redis-server` child process. Stopped (SIGKILL) and its directory removed when
/// dropped.
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    durability: Durability,
    dir: tempfile::TempDir,
}

impl fmt::Debug for RedisServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisServer")
            .field("port", &self.port)
            .field("running", &self.child.is_some())
            .field("durability", &self.durability)
            .field("dir", &self.dir.path())
            .finish()
    }
}

impl RedisServer {
    /// Starts `redis-server` (from `PATH`) on a free port of 127.0.0.1, and waits until it
    /// answers `PING`. Fails with `NotFound` and a hint if `redis-server` is not installed.
    pub fn start(durability: Durability) -> io::Result<Self> {
        let mut last = None;
        // A free port may be taken between our probe and the server's bind: try a few.
        for _ in 0..5 {
            let dir = tempfile::Builder::new()
                .prefix("pushpull-redis-")
                .tempdir()?;
            let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
            let mut s = Self {
                child: None,
                port,
                durability,
                dir,
            };
            match s.spawn() {
                Ok(()) => return Ok(s),
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(e),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| io::Error::other("redis-server did not start")))
    }

    fn spawn(&mut self) -> io::Result<()> {
        let mut cmd = Command::new("redis-server");
        cmd.arg("--port")
            .arg(self.port.to_string())
            .arg("--bind")
            .arg("127.0.0.1")
            .arg("--dir")
            .arg(self.dir.path())
            .arg("--save")
            .arg("")
            .arg("--logfile")
            .arg("redis.log")
            .arg("--daemonize")
            .arg("no");
        match self.durability {
            Durability::None => cmd.args(["--appendonly", "no"]),
            Durability::AppendAlways => {
                cmd.args(["--appendonly", "yes", "--appendfsync", "always"])
            }
            Durability::AppendEverySec => {
                cmd.args(["--appendonly", "yes", "--appendfsync", "everysec"])
            }
        };
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| {
                if e.kind() == io::ErrorKind::NotFound {
                    io::Error::new(
                        e.kind(),
                        "redis-server is not installed (Debian/Ubuntu: apt-get install redis-server)",
                    )
                } else {
                    e
                }
            })?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if self.ping().is_ok() {
                return Ok(());
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                self.child = None;
                return Err(io::Error::other(format!(
                    "redis-server exited with {status} on port {}: {}",
                    self.port,
                    self.log_tail()
                )));
            }
            if Instant::now() > deadline {
                self.kill();
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "redis-server did not answer PING",
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `PING` over a plain socket: `+PONG` once the server is up and has loaded its data.
    fn ping(&self) -> io::Result<()> {
        let mut s = TcpStream::connect(("127.0.0.1", self.port))?;
        s.set_read_timeout(Some(Duration::from_secs(2)))?;
        s.write_all(b"PING\r\n")?;
        let mut line = String::new();
        BufReader::new(s).read_line(&mut line)?;
        if line.starts_with("+PONG") {
            Ok(())
        } else {
            Err(io::Error::other(line))
        }
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.path().join("redis.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(5)..].join(" | ")
    }

    /// The URL to give [`Builder::new`](crate::Builder::new).
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Its data directory (append-only file, log).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The process id, while running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Stops the server cleanly (SIGTERM: it finishes writing its append-only file) and
    /// waits for it to exit.
    pub fn stop(&mut self) -> io::Result<()> {
        if let Some(mut child) = self.child.take() {
            let pid = libc::pid_t::try_from(child.id()).map_err(io::Error::other)?;
            // SAFETY: `kill` has no memory-safety preconditions; `pid` is our own child,
            // not yet reaped (we hold its `Child` and have not waited on it), so the id
            // cannot name another process.
            #[allow(unsafe_code)]
            let r = unsafe { libc::kill(pid, libc::SIGTERM) };
            if r != 0 {
                return Err(io::Error::last_os_error());
            }
            child.wait()?;
        }
        Ok(())
    }

    /// Kills the server at once (SIGKILL), as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again, on the same port and data directory (after a
    /// [`stop`](Self::stop) or [`kill`](Self::kill); stops it first if it runs).
    pub fn start_again(&mut self) -> io::Result<()> {
        self.stop()?;
        self.spawn()
    }

    /// [`stop`](Self::stop), then [`start_again`](Self::start_again).
    pub fn restart(&mut self) -> io::Result<()> {
        self.start_again()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}
