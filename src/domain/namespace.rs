//! The registration area a PAT opens: one resource server acting for one
//! resource owner (draft-06 §6: a host never sees another host's area).

/// (resource server client id, resource owner subject).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Namespace {
    /// The resource server's OAuth client id.
    pub client_id: String,
    /// The resource owner the PAT was issued for.
    pub owner: String,
}
