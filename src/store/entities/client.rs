use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "clients")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub client_id: String,
    pub secret_hash: String,
    pub name: String,
    pub owner: String,
    /// JSON array of scopes.
    pub scopes: String,
    /// JSON array of grant types.
    pub grant_types: String,
    /// JSON array of redirect URIs.
    pub redirect_uris: String,
    pub created_at: i64,
    /// `client_secret_basic`, `client_secret_post`, or `none` (a public client).
    pub token_endpoint_auth_method: String,
    /// Hash of the RFC 7592 registration access token, for dynamically registered clients.
    pub registration_token_hash: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
