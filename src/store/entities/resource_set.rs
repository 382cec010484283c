use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "resource_sets")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub client_id: String,
    pub owner: String,
    pub rsid: String,
    pub rev: i64,
    pub name: String,
    pub icon_uri: Option<String>,
    pub kind: Option<String>,
    /// JSON array of scopes.
    pub scopes: String,
    /// JSON object of extension members.
    pub extensions: String,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
