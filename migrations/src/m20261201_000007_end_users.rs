//! End users and the browser flows: Steward's own user accounts, browser
//! sessions, authorization grants (codes and rotating refresh tokens),
//! sign-in failure counters, client metadata for dynamic registration, and
//! the claims a requesting party handed over for a permission ticket.
//! Every secret (password, session, code, refresh token, registration access
//! token) is stored as a hash only.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    Username,
    PasswordHash,
    Claims,
    CreatedAt,
}

#[derive(DeriveIden)]
enum UserSessions {
    Table,
    TokenHash,
    Subject,
    Issuer,
    Claims,
    CreatedAt,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum Grants {
    Table,
    Id,
    ClientId,
    Subject,
    Scopes,
    Claims,
    CreatedAt,
    RevokedAt,
}

#[derive(DeriveIden)]
enum AuthorizationCodes {
    Table,
    CodeHash,
    GrantId,
    RedirectUri,
    CodeChallenge,
    ExpiresAt,
    RedeemedAt,
}

#[derive(DeriveIden)]
enum RefreshTokens {
    Table,
    TokenHash,
    GrantId,
    CreatedAt,
    ExpiresAt,
    UsedAt,
}

#[derive(DeriveIden)]
enum SignInFailures {
    Table,
    Key,
    WindowStart,
    Failures,
}

#[derive(DeriveIden)]
enum Clients {
    Table,
    TokenEndpointAuthMethod,
    RegistrationTokenHash,
}

#[derive(DeriveIden)]
enum PermissionTickets {
    Table,
    GatheredClaims,
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
                    .table(Users::Table)
                    .col(
                        ColumnDef::new(Users::Username)
                            .string()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Users::PasswordHash).string().not_null())
                    .col(ColumnDef::new(Users::Claims).text().not_null())
                    .col(ColumnDef::new(Users::CreatedAt).big_integer().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(UserSessions::Table)
                    .col(
                        ColumnDef::new(UserSessions::TokenHash)
                            .string()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(UserSessions::Subject).string().not_null())
                    .col(ColumnDef::new(UserSessions::Issuer).string().not_null())
                    .col(ColumnDef::new(UserSessions::Claims).text().not_null())
                    .col(
                        ColumnDef::new(UserSessions::CreatedAt)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(UserSessions::ExpiresAt)
                            .big_integer()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Grants::Table)
                    .col(ColumnDef::new(Grants::Id).string().not_null().primary_key())
                    .col(ColumnDef::new(Grants::ClientId).string().not_null())
                    .col(ColumnDef::new(Grants::Subject).string().not_null())
                    .col(ColumnDef::new(Grants::Scopes).text().not_null())
                    .col(ColumnDef::new(Grants::Claims).text().not_null())
                    .col(ColumnDef::new(Grants::CreatedAt).big_integer().not_null())
                    .col(ColumnDef::new(Grants::RevokedAt).big_integer().null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_grants_client")
                    .table(Grants::Table)
                    .col(Grants::ClientId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(AuthorizationCodes::Table)
                    .col(
                        ColumnDef::new(AuthorizationCodes::CodeHash)
                            .string()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(AuthorizationCodes::GrantId)
                            .string()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(AuthorizationCodes::RedirectUri)
                            .text()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(AuthorizationCodes::CodeChallenge)
                            .string()
                            .null(),
                    )
                    .col(
                        ColumnDef::new(AuthorizationCodes::ExpiresAt)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(AuthorizationCodes::RedeemedAt)
                            .big_integer()
                            .null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(RefreshTokens::Table)
                    .col(
                        ColumnDef::new(RefreshTokens::TokenHash)
                            .string()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(RefreshTokens::GrantId).string().not_null())
                    .col(
                        ColumnDef::new(RefreshTokens::CreatedAt)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(RefreshTokens::ExpiresAt)
                            .big_integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(RefreshTokens::UsedAt).big_integer().null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("ix_refresh_tokens_grant")
                    .table(RefreshTokens::Table)
                    .col(RefreshTokens::GrantId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(SignInFailures::Table)
                    .col(
                        ColumnDef::new(SignInFailures::Key)
                            .string()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(SignInFailures::WindowStart)
                            .big_integer()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(SignInFailures::Failures)
                            .integer()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Clients::Table)
                    .add_column(
                        ColumnDef::new(Clients::TokenEndpointAuthMethod)
                            .string()
                            .not_null()
                            .default("client_secret_basic"),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Clients::Table)
                    .add_column(
                        ColumnDef::new(Clients::RegistrationTokenHash)
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
                        ColumnDef::new(PermissionTickets::GatheredClaims)
                            .text()
                            .null(),
                    )
                    .to_owned(),
            )
            .await?;
        // Row 3 counts changes to clients, so every replica drops its memo of
        // verified client secrets when a client is updated or deleted.
        manager
            .exec_stmt(
                Query::insert()
                    .into_table(Revisions::Table)
                    .columns([Revisions::Id, Revisions::Value])
                    .values_panic([3.into(), 0i64.into()])
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .exec_stmt(
                Query::delete()
                    .from_table(Revisions::Table)
                    .and_where(Expr::col(Revisions::Id).eq(3))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(PermissionTickets::Table)
                    .drop_column(PermissionTickets::GatheredClaims)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Clients::Table)
                    .drop_column(Clients::RegistrationTokenHash)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Clients::Table)
                    .drop_column(Clients::TokenEndpointAuthMethod)
                    .to_owned(),
            )
            .await?;
        for table in [
            SignInFailures::Table.into_iden(),
            RefreshTokens::Table.into_iden(),
            AuthorizationCodes::Table.into_iden(),
            Grants::Table.into_iden(),
            UserSessions::Table.into_iden(),
            Users::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        Ok(())
    }
}
