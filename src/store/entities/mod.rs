//! sea-orm entities, one per table. Nothing outside `store` names them.

pub mod authorization_code;
pub mod change;
pub mod client;
pub mod enforcement_host;
pub mod enforcement_profile;
pub mod grant;
pub mod pending_request;
pub mod permission_ticket;
pub mod policy;
pub mod refresh_token;
pub mod resource_set;
pub mod rpt;
pub mod rpt_permission;
pub mod sign_in_failure;
pub mod signing_key;
pub mod user;
pub mod user_session;
