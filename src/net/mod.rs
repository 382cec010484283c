//! Listeners and connections, below both protocols: the accept loop that
//! hands HTTP and gRPC servers their connections (plain TCP or TLS), and
//! the TLS configuration that follows certificate files as they are
//! replaced.

pub mod http_server;
pub mod incoming;
pub mod tls;

pub use incoming::{Connection, Incoming, Limits, PeerAddr};
