//! The moto server process behind a [`crate::Moto`]: forked from a warm zygote when one can be
//! reached, else a process of its own.
//!
//! Starting Python and importing moto costs about a second of CPU, paid again by each of the
//! hundreds of tests that start a moto. `moto_atomic.py zygote SOCKET` pays it once: it imports
//! and warms moto, then forks a fresh server (empty state, its own port 0) for each connection to
//! its Unix socket, sends the port back over that connection, and the server exits when the
//! connection closes, so a test that ends, or dies, takes its server with it. The zygote is shared
//! by every test process of one Python and one `moto_atomic.py` (the socket's name digests both)
//! and leaves after two minutes without a request. `LOCAL_AWS_MOTO_ZYGOTE=0` turns it off.

use std::hash::{Hash, Hasher};
use std::io::Read;
use std::net::Shutdown;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::{LocalAwsError, MOTO_ATOMIC};

/// How long moto may take to answer after it was spawned; a cold Python start on a loaded 2-core
/// machine takes a few seconds.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a zygote may take to appear and to fork a server before a process of its own is
/// started instead.
const ZYGOTE_TIMEOUT: Duration = Duration::from_secs(20);

/// A running moto server; stopped (its port closed) when dropped.
#[derive(Debug)]
pub(crate) enum Server {
    /// A process of its own, killed and reaped on drop.
    Own(Child),
    /// Forked by the zygote; closing the connection stops it.
    Forked(std::os::unix::net::UnixStream),
}

impl Server {
    /// A server and the loopback port it listens on: forked when `zygote` and the zygote
    /// answers in time, else a process of its own.
    pub(crate) async fn start(python: &Path, zygote: bool) -> Result<(Server, u16), LocalAwsError> {
        if zygote && let Some((stream, port)) = forked(python).await {
            return Ok((Server::Forked(stream), port));
        }
        own(python).await
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        match self {
            // SIGKILL, then reap: a killed moto exits within milliseconds, and reaping here
            // (rather than leaving it to kill_on_drop's background reaper) leaves no zombie
            // behind a test binary. Bounded at 5 s so a drop never hangs.
            Server::Own(child) => {
                if child.start_kill().is_err() {
                    return;
                }
                for _ in 0..500 {
                    match child.try_wait() {
                        Ok(None) => std::thread::sleep(Duration::from_millis(10)),
                        Ok(Some(_)) | Err(_) => return,
                    }
                }
            }
            // The server reads the end of its connection, closes its port, then its end of the
            // connection: once this read ends, nothing listens on the port any more (at most 5 s).
            Server::Forked(stream) => {
                let _ = stream.shutdown(Shutdown::Write);
                let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                let mut rest = [0_u8; 64];
                while matches!(stream.read(&mut rest), Ok(read) if read > 0) {}
            }
        }
    }
}

/// A server forked by the zygote (started if none answers), or `None` if that fails in time.
async fn forked(python: &Path) -> Option<(std::os::unix::net::UnixStream, u16)> {
    let socket = zygote_socket(python);
    let deadline = tokio::time::Instant::now() + ZYGOTE_TIMEOUT;
    let mut spawned = false;
    loop {
        match tokio::net::UnixStream::connect(&socket).await {
            Ok(stream) => {
                let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
                return tokio::time::timeout(remaining, port_of(stream))
                    .await
                    .ok()
                    .flatten();
            }
            Err(_) if !spawned => {
                spawned = true;
                // Its own process group, no inherited descriptors, no output: it outlives this
                // process and holds nothing of it (no pipe a test runner would wait on).
                std::process::Command::new(python)
                    .args(["-c", MOTO_ATOMIC, "zygote"])
                    .arg(&socket)
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .process_group(0)
                    .spawn()
                    .ok()?;
            }
            Err(_) => {}
        }
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The port line a forked server sends once it is bound; the connection stays open as its life.
async fn port_of(
    mut stream: tokio::net::UnixStream,
) -> Option<(std::os::unix::net::UnixStream, u16)> {
    let mut line = Vec::new();
    let mut byte = [0_u8; 1];
    while stream.read(&mut byte).await.ok()? == 1 {
        if byte[0] == b'\n' {
            let port = std::str::from_utf8(&line).ok()?.trim().parse().ok()?;
            let stream = stream.into_std().ok()?;
            stream.set_nonblocking(false).ok()?;
            return Some((stream, port));
        }
        line.push(byte[0]);
    }
    None
}

/// The zygote's socket: one per Python and `moto_atomic.py`, in the temporary directory.
fn zygote_socket(python: &Path) -> PathBuf {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    python.hash(&mut hasher);
    MOTO_ATOMIC.hash(&mut hasher);
    std::env::temp_dir().join(format!("local-aws-moto-{:016x}.sock", hasher.finish()))
}

/// A moto server process of its own: `moto_atomic.py serve` prints the port it bound.
async fn own(python: &Path) -> Result<(Server, u16), LocalAwsError> {
    let mut child = Command::new(python)
        .args(["-c", MOTO_ATOMIC])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|source| LocalAwsError::Spawn {
            path: python.to_path_buf(),
            source,
        })?;
    let port = match tokio::time::timeout(STARTUP_TIMEOUT, announced_port(&mut child)).await {
        Ok(Some(port)) => port,
        Ok(None) => {
            let status = match child.wait().await {
                Ok(status) => status.to_string(),
                Err(error) => error.to_string(),
            };
            return Err(LocalAwsError::Exited { status });
        }
        Err(_) => {
            return Err(LocalAwsError::Timeout {
                timeout: STARTUP_TIMEOUT,
            });
        }
    };
    Ok((Server::Own(child), port))
}

/// The port `moto_atomic.py` printed once its server was bound; `None` when it exited first.
async fn announced_port(child: &mut Child) -> Option<u16> {
    let stdout = child.stdout.take()?;
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).await.ok()?;
    line.trim().parse().ok()
}
