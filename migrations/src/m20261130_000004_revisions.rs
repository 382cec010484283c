//! A single change counter. Every write that can change a cached answer
//! (RPTs, their permissions, resource sets, policies, held requests) bumps
//! it in its own transaction; each replica polls it and drops its caches
//! when it moves — the bound on how stale another replica's answer can be.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

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
                    .table(Revisions::Table)
                    .col(
                        ColumnDef::new(Revisions::Id)
                            .integer()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Revisions::Value).big_integer().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .exec_stmt(
                Query::insert()
                    .into_table(Revisions::Table)
                    .columns([Revisions::Id, Revisions::Value])
                    .values_panic([1.into(), 0i64.into()])
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Revisions::Table).to_owned())
            .await
    }
}
