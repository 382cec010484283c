//! The change log behind `ChangeService/WatchChanges`: one row per change an
//! enforcement point may cache around (resource sets, policies, RPT
//! revocations), numbered by the change counter so revisions increase in
//! commit order. `revisions` row 2 remembers up to which revision old rows
//! were pruned, so a watcher resuming from before that is told to resync.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Changes {
    Table,
    Revision,
    Kind,
    ResourceServer,
    Owner,
    ResourceSetId,
    PolicyId,
    RptHash,
    At,
}

#[derive(DeriveIden)]
enum Revisions {
    Table,
    Id,
    Value,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Changes::Table)
                    .col(
                        ColumnDef::new(Changes::Revision)
                            .big_integer()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Changes::Kind).string().not_null())
                    .col(ColumnDef::new(Changes::ResourceServer).string().not_null())
                    .col(ColumnDef::new(Changes::Owner).string().not_null())
                    .col(ColumnDef::new(Changes::ResourceSetId).string().not_null())
                    .col(ColumnDef::new(Changes::PolicyId).string().not_null())
                    .col(ColumnDef::new(Changes::RptHash).string().not_null())
                    .col(ColumnDef::new(Changes::At).big_integer().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_changes_resource_server")
                    .table(Changes::Table)
                    .col(Changes::ResourceServer)
                    .col(Changes::Revision)
                    .to_owned(),
            )
            .await?;
        manager
            .exec_stmt(
                Query::insert()
                    .into_table(Revisions::Table)
                    .columns([Revisions::Id, Revisions::Value])
                    .values_panic([2.into(), 0i64.into()])
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .exec_stmt(
                Query::delete()
                    .from_table(Revisions::Table)
                    .and_where(Expr::col(Revisions::Id).eq(2))
                    .to_owned(),
            )
            .await?;
        manager
            .drop_table(Table::drop().table(Changes::Table).to_owned())
            .await
    }
}
