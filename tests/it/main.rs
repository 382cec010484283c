//! Black-box tests: each boots the real server on ephemeral ports over a
//! fresh database (SQLite, or PostgreSQL when `TEST_DATABASE_URL` is set) and
//! speaks real HTTP (reqwest) and gRPC (the generated clients) to it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod aat;
mod audit;
mod authorization_flow;
mod browser_flows;
mod browser_support;
mod changes;
mod cli;
mod database_faults;
mod discovery;
mod ext_authz;
mod faults;
mod guard;
mod helpers;
mod hostile_input;
mod idp;
mod in_browser;
mod keys;
mod not_before;
mod operations;
mod parity;
mod permissions;
mod policies;
mod registration;
mod replicas;
mod resource_sets;
mod rpt_status;
mod sign_in_limits;
mod smoke;
mod split_mode;
mod tls;
mod tokens;
mod trust;
mod webdriver;
