//! A real TURN relay for tests: Debian's coturn, run in the foreground with a
//! throwaway self-signed certificate, TLS only, checking Viva's TURN REST credentials
//! (`use-auth-secret`). Stopped and removed on drop.

use std::process::{Child, Command, Stdio};

/// A running coturn.
pub struct Coturn {
    child: Child,
    /// The TLS port it listens on.
    pub tls_port: u16,
    /// Its shared secret.
    pub secret: String,
    _dir: tempfile::TempDir,
}

impl Coturn {
    /// Starts coturn on `ip`; `None` (the test is skipped, and says so) where coturn
    /// or openssl is missing, which CI must never be.
    pub fn start(ip: &str) -> Option<Self> {
        let missing = ["turnserver", "openssl"]
            .iter()
            .find(|tool| which(tool).is_none());
        if let Some(tool) = missing {
            eprintln!(
                "SKIPPED: {tool} is not installed (scripts/install-deps.sh --with-test-tools)"
            );
            assert!(std::env::var_os("CI").is_none(), "CI must have {tool}");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        let made = Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
            ])
            .args(["-nodes", "-days", "1", "-subj", "/CN=turn.viva.test"])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(made.success(), "a throwaway certificate");
        let tls_port = std::net::TcpListener::bind((ip, 0))
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let secret = format!("coturn-test-{}", uuid::Uuid::new_v4().simple());
        let child = Command::new("turnserver")
            .args(["-n", "--no-cli", "--log-file=stdout", "--simple-log"])
            .args(["--use-auth-secret", "--realm=viva.test"])
            .arg(format!("--static-auth-secret={secret}"))
            .arg(format!("--listening-ip={ip}"))
            .arg(format!("--relay-ip={ip}"))
            .arg(format!("--tls-listening-port={tls_port}"))
            .args(["--no-udp", "--no-tcp", "--no-dtls"])
            .args(["--min-port=49200", "--max-port=49400"])
            .arg(format!("--cert={}", cert.display()))
            .arg(format!("--pkey={}", key.display()))
            .arg(format!(
                "--pidfile={}",
                dir.path().join("turn.pid").display()
            ))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Listening once a TCP connect succeeds (bounded).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::net::TcpStream::connect((ip, tls_port)).is_err() {
            assert!(std::time::Instant::now() < deadline, "coturn did not start");
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        Some(Self {
            child,
            tls_port,
            secret,
            _dir: dir,
        })
    }
}

fn which(tool: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(tool))
            .find(|p| p.is_file())
    })
}

impl Drop for Coturn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
