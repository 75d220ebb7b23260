use serde::{Deserialize, Serialize};
use std::fmt;

/// An admin user's role, as Medusa v1 names them. Optional on an invite:
/// Medusa v2 has no roles, and an email names a role only when one was given.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase", try_from = "String")]
pub enum Role {
    Admin,
    Member,
    Developer,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Member => "member",
            Role::Developer => "developer",
        }
    }
}

impl TryFrom<String> for Role {
    type Error = String;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        match value.as_str() {
            "admin" => Ok(Role::Admin),
            "member" => Ok(Role::Member),
            "developer" => Ok(Role::Developer),
            other if other.len() <= 32 => Err(format!(
                "role {other:?} is not one of admin, member, developer"
            )),
            _ => Err("role is not one of admin, member, developer".into()),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
