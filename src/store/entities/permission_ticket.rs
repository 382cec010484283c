use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "permission_tickets")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub ticket_hash: String,
    pub client_id: String,
    pub owner: String,
    pub rsid: String,
    /// JSON array of requested scopes.
    pub scopes: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub redeemed_at: Option<i64>,
    /// The client that first presented the ticket.
    pub bound_client: Option<String>,
    /// The requesting party that first presented the ticket.
    pub bound_subject: Option<String>,
    /// JSON object of claims the requesting party handed over by redirect.
    pub gathered_claims: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
