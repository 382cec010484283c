//! Signing-key rotation: `revisions` row 4 counts key-set changes, so every
//! replica reloads its keys (new signer, retired keys aging out) within one
//! cache refresh of a rotation anywhere.

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
            .exec_stmt(
                Query::insert()
                    .into_table(Revisions::Table)
                    .columns([Revisions::Id, Revisions::Value])
                    .values_panic([4.into(), 0i64.into()])
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .exec_stmt(
                Query::delete()
                    .from_table(Revisions::Table)
                    .and_where(Expr::col(Revisions::Id).eq(4))
                    .to_owned(),
            )
            .await
    }
}
