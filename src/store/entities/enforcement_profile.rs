use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "enforcement_profiles")]
pub struct Model {
    /// The resource server's client id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub client_id: String,
    /// The validated profile as JSON.
    pub profile: String,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
