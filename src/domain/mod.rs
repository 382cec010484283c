//! The pure domain: protocol types, validation and rules that need no
//! database, network or clock of their own. Time comes in as `now` (seconds
//! since the Unix epoch) and randomness through [`secret::Entropy`].

pub mod change;
pub mod enforcement;
pub mod error;
pub mod grant;
pub mod host;
pub mod identifier;
pub mod json;
pub mod namespace;
pub mod network;
pub mod pending;
pub mod pkce;
pub mod policy;
pub mod redirect;
pub mod resource_set;
pub mod rpt;
pub mod scope;
pub mod secret;
pub mod ticket;
pub mod token;

pub use error::Error;
pub use namespace::Namespace;

/// Seconds since the Unix epoch; the only notion of time the domain knows.
pub type UnixTime = i64;
