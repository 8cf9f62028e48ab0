//! The TCP connector under the cache client: hyper-util's `HttpConnector`, whose streams re-arm
//! `TCP_QUICKACK` after every read and write.
//!
//! Why: a server that writes a response's headers and body in two `send`s (Python's
//! `http.server`, some CGI-style proxies) has Nagle hold the body until the headers are acked, and
//! Linux delays that ack by up to 40 ms on a connection it considers interactive (every reused
//! keep-alive connection). Quick-ack mode is not sticky (the kernel leaves it again on its own), so
//! it is set again after each read and each write; it costs one `setsockopt` per call and changes
//! nothing for servers that answer in one write. Elsewhere than Linux it is a no-op.

use std::error::Error as StdError;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use hyper::Uri;
use hyper::rt::{Read, ReadBufCursor, Write};
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// A boxed connector error (what hyper's pool and hyper-rustls accept).
pub type BoxError = Box<dyn StdError + Send + Sync>;

/// An [`HttpConnector`] whose connections are [`QuickAckStream`]s.
#[derive(Clone)]
pub struct QuickAckConnector {
    inner: HttpConnector,
}

impl QuickAckConnector {
    /// Wrap `inner` (already configured: connect timeout, nodelay, `enforce_http(false)` for TLS).
    pub fn new(inner: HttpConnector) -> Self {
        Self { inner }
    }
}

impl tower_service::Service<Uri> for QuickAckConnector {
    type Response = QuickAckStream;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<QuickAckStream, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, dst: Uri) -> Self::Future {
        let connecting = self.inner.call(dst);
        Box::pin(async move {
            let io = connecting.await?;
            let stream = QuickAckStream { io };
            stream.rearm();
            Ok(stream)
        })
    }
}

/// A TCP stream that re-arms `TCP_QUICKACK` after every successful read and write.
pub struct QuickAckStream {
    io: TokioIo<TcpStream>,
}

impl QuickAckStream {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    fn rearm(&self) {
        // Best effort: failing only brings back the delayed ack.
        if let Err(e) = socket2::SockRef::from(self.io.inner()).set_tcp_quickack(true) {
            tracing::debug!("cannot set `TCP_QUICKACK`: {e}");
        }
    }

    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    #[allow(clippy::unused_self)] // Same signature as the Linux variant.
    fn rearm(&self) {}
}

impl Connection for QuickAckStream {
    fn connected(&self) -> Connected {
        self.io.connected()
    }
}

impl Read for QuickAckStream {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: ReadBufCursor<'_>) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.io).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            self.rearm();
        }
        polled
    }
}

impl Write for QuickAckStream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.io).poll_write(cx, buf);
        if let Poll::Ready(Ok(_)) = polled {
            self.rearm();
        }
        polled
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(_)) = polled {
            self.rearm();
        }
        polled
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(all(test, any(target_os = "linux", target_os = "android")))]
mod tests {
    use super::*;
    use tower_service::Service as _;

    #[tokio::test]
    async fn connections_are_quickack_streams_with_quickack_set() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accept = tokio::spawn(async move { listener.accept().await.unwrap() });
        let mut c = QuickAckConnector::new(HttpConnector::new());
        let stream = c.call(format!("http://{addr}/").parse().unwrap()).await.unwrap();
        let _peer = accept.await.unwrap();
        assert!(socket2::SockRef::from(stream.io.inner()).tcp_quickack().unwrap());
    }

    #[tokio::test]
    async fn a_refused_connect_keeps_its_cause() {
        let addr = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        };
        let mut c = QuickAckConnector::new(HttpConnector::new());
        let Err(err) = c.call(format!("http://{addr}/").parse().unwrap()).await else { panic!("connected") };
        let mut chain = vec![err.to_string()];
        let mut cur = err.source();
        while let Some(e) = cur {
            chain.push(e.to_string());
            cur = e.source();
        }
        assert!(chain.iter().any(|s| s.contains("Connection refused")), "{chain:?}");
    }
}
