//! A real S3 endpoint for tests: moto's server on a free loopback port, one bucket, killed on drop.
#![allow(dead_code)] // Shared by test modules; not each uses every helper.

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A well-formed but unverified SigV4 header (moto does not check signatures).
const AUTH: &str =
    "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0";

/// The bucket every moto server gets.
pub const BUCKET: &str = "gf-state";

/// A running `python3 -m moto.server`.
pub struct Moto {
    child: Child,
    /// Its loopback port.
    pub port: u16,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Moto {
    /// Start moto, wait until it answers, create [`BUCKET`]. Fails naming what to install.
    pub fn start() -> Self {
        for _ in 0..3 {
            let port = free_port();
            let mut child = Command::new("python3")
                .args(["-m", "moto.server", "-H", "127.0.0.1", "-p", &port.to_string()])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| {
                    panic!("cannot run python3 for moto: {e}; install Python 3 and `pip install 'moto[server]'`")
                });
            let deadline = Instant::now() + Duration::from_secs(20);
            let mut ready = false;
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    break; // not installed, or the port was taken in between: try again, then fail
                }
                if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    ready = true;
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            if !ready {
                let _ = child.kill();
                let _ = child.wait();
                continue;
            }
            let moto = Self { child, port };
            let (status, body) = moto.request("PUT", &format!("/{BUCKET}"));
            assert_eq!(status, 200, "create bucket: {}", String::from_utf8_lossy(&body));
            return moto;
        }
        panic!(
            "moto did not start on a free loopback port (3 tries); install it with `pip install 'moto[server]'` (scripts/test.sh does)"
        );
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The variables gf needs to reach this server's bucket, with the given credentials.
    pub fn env(&self, access_key: &str, secret_key: &str) -> Vec<(&'static str, String)> {
        vec![
            ("TOFU_BACKEND_S3_ENDPOINT", self.endpoint()),
            ("TOFU_BACKEND_S3_BUCKET", BUCKET.into()),
            ("TOFU_BACKEND_S3_ACCESS_KEY", access_key.into()),
            ("TOFU_BACKEND_S3_SECRET_KEY", secret_key.into()),
        ]
    }

    /// One plain HTTP/1.1 request: status and body. moto does not verify signatures, but treats a
    /// request without `Authorization` as anonymous (403 on private objects), so a dummy one is sent.
    pub fn request(&self, method: &str, path: &str) -> (u16, Vec<u8>) {
        self.request_with(method, path, b"")
    }

    /// [`Moto::request`] with a body.
    pub fn request_with(&self, method: &str, path: &str, body: &[u8]) -> (u16, Vec<u8>) {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nAuthorization: {AUTH}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            self.port,
            body.len()
        )
        .unwrap();
        s.write_all(body).unwrap();
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).unwrap();
        let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("HTTP response head");
        let head = String::from_utf8_lossy(&raw[..split]).into_owned();
        let status = head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).expect("status code");
        let mut body = raw[split + 4..].to_vec();
        if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
            body = dechunk(&body);
        }
        (status, body)
    }

    /// The object at `key` in [`BUCKET`], `None` on 404.
    pub fn get(&self, key: &str) -> Option<Vec<u8>> {
        let (status, body) = self.request("GET", &format!("/{BUCKET}/{key}"));
        match status {
            200 => Some(body),
            404 => None,
            other => panic!("GET {key}: HTTP {other}: {}", String::from_utf8_lossy(&body)),
        }
    }

    /// Put `body` at `key` in [`BUCKET`] (e.g. a state lock another run holds).
    pub fn put(&self, key: &str, body: &[u8]) {
        let (status, resp) = self.request_with("PUT", &format!("/{BUCKET}/{key}"), body);
        assert_eq!(status, 200, "PUT {key}: {}", String::from_utf8_lossy(&resp));
    }

    /// Every key in [`BUCKET`] (from ListObjects' XML).
    pub fn keys(&self) -> Vec<String> {
        let (status, body) = self.request("GET", &format!("/{BUCKET}"));
        assert_eq!(status, 200);
        let xml = String::from_utf8_lossy(&body);
        xml.split("<Key>").skip(1).filter_map(|s| s.split("</Key>").next()).map(str::to_string).collect()
    }
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(i) = b.windows(2).position(|w| w == b"\r\n") {
        let n = usize::from_str_radix(String::from_utf8_lossy(&b[..i]).trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.extend_from_slice(&b[i + 2..i + 2 + n]);
        b = &b[i + 2 + n + 2..];
    }
    out
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
