//! Enforcement profiles for service meshes: each resource server's hosts and
//! the scopes its HTTP methods need. A host belongs to at most one resource
//! server (the primary key of `enforcement_hosts` says so, also under
//! concurrent registrations).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum EnforcementProfiles {
    Table,
    ClientId,
    Profile,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum EnforcementHosts {
    Table,
    Host,
    ClientId,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(EnforcementProfiles::Table)
                    .col(
                        ColumnDef::new(EnforcementProfiles::ClientId)
                            .string()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(EnforcementProfiles::Profile)
                            .text()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(EnforcementProfiles::UpdatedAt)
                            .big_integer()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(EnforcementHosts::Table)
                    .col(
                        ColumnDef::new(EnforcementHosts::Host)
                            .string()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(EnforcementHosts::ClientId)
                            .string()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_enforcement_hosts_client")
                    .table(EnforcementHosts::Table)
                    .col(EnforcementHosts::ClientId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(EnforcementHosts::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(EnforcementProfiles::Table).to_owned())
            .await
    }
}
