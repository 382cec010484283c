//! Steward's schema migrations. They run at server start-up and with
//! `steward migrate`, on SQLite and PostgreSQL alike (sea-query builds the
//! dialect), so every statement here is portable.

pub use sea_orm_migration::prelude::*;

mod m20261130_000001_initial;
mod m20261130_000002_authorization;
mod m20261130_000003_one_live_rpt_per_aat;
mod m20261130_000004_revisions;
mod m20261201_000005_enforcement;
mod m20261201_000006_changes;
mod m20261201_000007_end_users;
mod m20261201_000008_key_rotation;
mod m20261202_000009_host_normal_form;

/// The ordered list of migrations.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261130_000001_initial::Migration),
            Box::new(m20261130_000002_authorization::Migration),
            Box::new(m20261130_000003_one_live_rpt_per_aat::Migration),
            Box::new(m20261130_000004_revisions::Migration),
            Box::new(m20261201_000005_enforcement::Migration),
            Box::new(m20261201_000006_changes::Migration),
            Box::new(m20261201_000007_end_users::Migration),
            Box::new(m20261201_000008_key_rotation::Migration),
            Box::new(m20261202_000009_host_normal_form::Migration),
        ]
    }
}
