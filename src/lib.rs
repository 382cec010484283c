//! Steward, a User-Managed Access (UMA, draft-hardjono-oauth-umacore-06)
//! authorization server.
//!
//! A map of the crate, from the inside out:
//! - [`domain`]: pure protocol types and rules; no I/O, time passed in.
//! - [`store`]: sea-orm persistence (SQLite by default, PostgreSQL in production).
//! - [`core`]: the use cases; every protocol rule lives here.
//! - [`grpc`]: the tonic services over the core, and error ⇄ `Status` mapping.
//! - [`http`]: the thin axum façade presenting the OAuth/UMA endpoints; it
//!   reaches the core only through the generated gRPC clients.
//! - [`net`]: the accept loop under both listeners and TLS from files that
//!   are reloaded when they change.
//! - [`config`], [`telemetry`], [`app`]: settings, tracing/metrics, and the
//!   [`app::Application`] that wires it all onto listeners.
//! - [`guard`]: the resource server's side for Rust services, a tower layer
//!   that asks a Steward (feature `guard`; with `default-features = false`
//!   it needs none of the server's dependencies).
//!
//! Everything but [`domain`] and [`guard`] is the server (feature `server`).

#[cfg(feature = "server")]
pub mod app;
#[cfg(feature = "server")]
pub mod config;
#[cfg(feature = "server")]
pub mod core;
pub mod domain;
#[cfg(feature = "server")]
pub mod grpc;
#[cfg(feature = "guard")]
pub mod guard;
#[cfg(feature = "server")]
pub mod http;
#[cfg(feature = "server")]
pub mod loadtest;
#[cfg(feature = "server")]
pub mod net;
#[cfg(feature = "server")]
pub mod store;
#[cfg(feature = "server")]
pub mod telemetry;
