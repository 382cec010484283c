//! The authorization-API schema: RPTs remember the AAT they came from,
//! tickets remember the client that first presented them, and owner
//! policies and pending approval requests get their tables.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Rpts {
    Table,
    AatId,
}

#[derive(DeriveIden)]
enum PermissionTickets {
    Table,
    BoundClient,
    BoundSubject,
}

#[derive(DeriveIden)]
enum Policies {
    Table,
    Id,
    ClientId,
    Owner,
    Rsid,
    Definition,
    CreatedAt,
}

#[derive(DeriveIden)]
enum PendingRequests {
    Table,
    Id,
    ClientId,
    Owner,
    Rsid,
    Scopes,
    RequestingClient,
    Subject,
    Status,
    CreatedAt,
    DecidedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite alters one column per statement.
        manager
            .alter_table(
                Table::alter()
                    .table(Rpts::Table)
                    .add_column(ColumnDef::new(Rpts::AatId).string().null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_rpts_aat")
                    .table(Rpts::Table)
                    .col(Rpts::AatId)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(PermissionTickets::Table)
                    .add_column(
                        ColumnDef::new(PermissionTickets::BoundClient)
                            .string()
                            .null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(PermissionTickets::Table)
                    .add_column(
                        ColumnDef::new(PermissionTickets::BoundSubject)
                            .string()
                            .null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Policies::Table)
                    .col(
                        ColumnDef::new(Policies::Id)
                            .string()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Policies::ClientId).string().not_null())
                    .col(ColumnDef::new(Policies::Owner).string().not_null())
                    .col(ColumnDef::new(Policies::Rsid).string().not_null())
                    .col(ColumnDef::new(Policies::Definition).text().not_null())
                    .col(ColumnDef::new(Policies::CreatedAt).big_integer().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_policies_resource_set")
                    .table(Policies::Table)
                    .col(Policies::ClientId)
                    .col(Policies::Owner)
                    .col(Policies::Rsid)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(PendingRequests::Table)
                    .col(
                        ColumnDef::new(PendingRequests::Id)
                            .string()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(PendingRequests::ClientId)
                            .string()
                            .not_null(),
                    )
                    .col(ColumnDef::new(PendingRequests::Owner).string().not_null())
                    .col(ColumnDef::new(PendingRequests::Rsid).string().not_null())
                    .col(ColumnDef::new(PendingRequests::Scopes).string().not_null())
                    .col(
                        ColumnDef::new(PendingRequests::RequestingClient)
                            .string()
                            .not_null(),
                    )
                    .col(ColumnDef::new(PendingRequests::Subject).string().not_null())
                    .col(ColumnDef::new(PendingRequests::Status).string().not_null())
                    .col(
                        ColumnDef::new(PendingRequests::CreatedAt)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(PendingRequests::DecidedAt)
                            .big_integer()
                            .null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ux_pending_requests_access")
                    .table(PendingRequests::Table)
                    .col(PendingRequests::ClientId)
                    .col(PendingRequests::Owner)
                    .col(PendingRequests::Rsid)
                    .col(PendingRequests::RequestingClient)
                    .col(PendingRequests::Subject)
                    .col(PendingRequests::Scopes)
                    .unique()
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(PendingRequests::Table).to_owned())
            .await?;
        manager
            .drop_table(Table::drop().table(Policies::Table).to_owned())
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .name("ix_rpts_aat")
                    .table(Rpts::Table)
                    .to_owned(),
            )
            .await?;
        for column in [
            PermissionTickets::BoundSubject,
            PermissionTickets::BoundClient,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(PermissionTickets::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(Rpts::Table)
                    .drop_column(Rpts::AatId)
                    .to_owned(),
            )
            .await
    }
}
