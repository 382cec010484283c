//! One accept loop for both listeners. It accepts TCP connections, runs the
//! TLS handshake when TLS is on (each in its own task with a deadline, so a
//! slow or silent client never holds up the others), and hands finished
//! connections to the server: axum through [`axum::serve::Listener`], tonic
//! through [`Incoming::into_stream`].
//!
//! Hostile clients are bounded here: at most [`Limits::max_connections`]
//! connections are open at once (past it the loop stops accepting and the
//! kernel's backlog holds the rest), and a connection must send its first
//! bytes (the HTTP/2 preface on gRPC) within [`Limits::first_bytes`] or it is
//! closed. The HTTP server adds a deadline for every request's headers.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio_stream::wrappers::ReceiverStream;

use super::tls::ServerTls;

/// How long a client has to finish its TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Most TLS handshakes under way at once; past it the loop stops accepting
/// until one finishes (the kernel's backlog holds the rest).
const MAX_HANDSHAKES: usize = 1024;
/// Accepted connections waiting for the server to take them.
const QUEUE: usize = 128;

/// What one listener allows its clients.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Most connections open at once.
    pub max_connections: usize,
    /// A connection must have sent this many bytes (after TLS) within this
    /// long, or it is closed: 24 is the HTTP/2 connection preface.
    pub first_bytes: (usize, Duration),
}

/// An accepted connection, plain or TLS.
pub struct Connection {
    stream: Stream,
    peer: SocketAddr,
    local: SocketAddr,
    /// Bytes still expected before `deadline`; 0 once they came.
    awaiting: usize,
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
    /// Held while the connection is open: one of the listener's slots.
    _slot: OwnedSemaphorePermit,
}

enum Stream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
}

impl Connection {
    fn new(
        stream: Stream,
        peer: SocketAddr,
        local: SocketAddr,
        limits: &Limits,
        slot: OwnedSemaphorePermit,
    ) -> Connection {
        let (awaiting, within) = limits.first_bytes;
        Connection {
            stream,
            peer,
            local,
            awaiting,
            deadline: (awaiting > 0).then(|| Box::pin(tokio::time::sleep(within))),
            _slot: slot,
        }
    }

    /// The client's socket address.
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }
}

impl AsyncRead for Connection {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let read = match &mut this.stream {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        };
        if this.awaiting > 0 {
            match &read {
                Poll::Ready(Ok(())) => {
                    let got = buf.filled().len() - before;
                    this.awaiting = this.awaiting.saturating_sub(got);
                    if this.awaiting == 0 || got == 0 {
                        this.awaiting = 0;
                        this.deadline = None;
                    }
                }
                Poll::Pending => {
                    if let Some(deadline) = &mut this.deadline
                        && deadline.as_mut().poll(cx).is_ready()
                    {
                        return Poll::Ready(Err(io::Error::new(
                            io::ErrorKind::TimedOut,
                            "the client sent too little too slowly",
                        )));
                    }
                }
                Poll::Ready(Err(_)) => {}
            }
        }
        read
    }
}

impl AsyncWrite for Connection {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().stream {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().stream {
            Stream::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match &self.stream {
            Stream::Plain(s) => s.is_write_vectored(),
            Stream::Tls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().stream {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().stream {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

impl tonic::transport::server::Connected for Connection {
    type ConnectInfo = tonic::transport::server::TcpConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        tonic::transport::server::TcpConnectInfo {
            local_addr: Some(self.local),
            remote_addr: Some(self.peer),
        }
    }
}

/// The connections of one listener, ready to serve.
pub struct Incoming {
    ready: mpsc::Receiver<Connection>,
    local: SocketAddr,
    accepting: AbortOnDrop,
}

/// Stops the accept loop (and so closes the listening socket) when the
/// server lets go of its connections.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Incoming {
    /// Starts accepting on `listener`; with `tls`, every connection is a TLS
    /// connection made with its configuration at the time of the handshake.
    pub fn new(
        listener: TcpListener,
        tls: Option<Arc<ServerTls>>,
        limits: Limits,
    ) -> io::Result<Incoming> {
        let local = listener.local_addr()?;
        let (tx, ready) = mpsc::channel(QUEUE);
        let accepting = AbortOnDrop(tokio::spawn(accept_loop(listener, local, tls, limits, tx)));
        Ok(Incoming {
            ready,
            local,
            accepting,
        })
    }

    /// The connections as the stream tonic serves from.
    pub fn into_stream(
        self,
    ) -> impl tokio_stream::Stream<Item = Result<Connection, io::Error>> + Send + 'static {
        use tokio_stream::StreamExt as _;
        let Incoming {
            ready, accepting, ..
        } = self;
        ReceiverStream::new(ready).map(move |connection| {
            // The stream owns the accept loop: dropping it stops accepting.
            let _owner = &accepting;
            Ok(connection)
        })
    }
}

impl axum::serve::Listener for Incoming {
    type Io = Connection;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Connection, SocketAddr) {
        match self.ready.recv().await {
            Some(connection) => {
                let peer = connection.peer;
                (connection, peer)
            }
            // The accept loop never ends while this receiver lives; should
            // it die, accept nothing more rather than spin.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.local)
    }
}

/// The client's address as the HTTP handlers see it
/// (`ConnectInfo<PeerAddr>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, Incoming>>
    for PeerAddr
{
    fn connect_info(stream: axum::serve::IncomingStream<'_, Incoming>) -> Self {
        PeerAddr(*stream.remote_addr())
    }
}

async fn accept_loop(
    listener: TcpListener,
    local: SocketAddr,
    tls: Option<Arc<ServerTls>>,
    limits: Limits,
    ready: mpsc::Sender<Connection>,
) {
    let handshakes = Arc::new(Semaphore::new(MAX_HANDSHAKES));
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    loop {
        // A free slot first: at the limit, connections wait in the backlog.
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let (tcp, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                tracing::warn!(error = %e, %local, "cannot accept a connection");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        // Small request/response messages: do not wait to coalesce them.
        let _ = tcp.set_nodelay(true);
        let local = tcp.local_addr().unwrap_or(local);
        let Some(tls) = &tls else {
            let connection = Connection::new(Stream::Plain(tcp), peer, local, &limits, slot);
            if ready.send(connection).await.is_err() {
                return;
            }
            continue;
        };
        let Ok(permit) = handshakes.clone().acquire_owned().await else {
            return;
        };
        let acceptor = tls.acceptor();
        let ready = ready.clone();
        tokio::spawn(async move {
            let _permit = permit;
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(stream)) => {
                    let connection =
                        Connection::new(Stream::Tls(Box::new(stream)), peer, local, &limits, slot);
                    let _ = ready.send(connection).await;
                }
                Ok(Err(e)) => tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
            }
        });
    }
}
