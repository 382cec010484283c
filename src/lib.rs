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
//! - [`config`], [`telemetry`], [`app`]: settings, tracing/metrics, and the
//!   [`app::Application`] that wires it all onto listeners.

pub mod app;
pub mod config;
pub mod core;
pub mod domain;
pub mod grpc;
pub mod http;
pub mod loadtest;
pub mod store;
pub mod telemetry;
