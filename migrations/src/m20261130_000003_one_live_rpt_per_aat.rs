//! At most one live (unrevoked) RPT per AAT, enforced by the database so
//! concurrent RPT requests with one AAT cannot leave several alive
//! (draft-06 §3.4.2). A partial unique index, same syntax on SQLite and
//! PostgreSQL.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE UNIQUE INDEX ux_rpts_live_aat ON rpts (aat_id) \
                 WHERE revoked_at IS NULL AND aat_id IS NOT NULL",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("DROP INDEX ux_rpts_live_aat")
            .await?;
        Ok(())
    }
}
