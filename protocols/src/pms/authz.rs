//! Authorization of UI-client requests: credentials, roles, and the permission each
//! request needs. Every request is checked; a denied request gets an error and no data.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// What a user may do, in increasing power.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Poll status and list processes.
    Viewer,
    /// Also start processes and invoke actions on them.
    Operator,
}

/// What a client presents.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credential {
    pub user: String,
    pub secret: String,
}

/// Kinds of request, by the role they need.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    Read,
    Control,
}

impl Permission {
    pub fn needs(self) -> Role {
        match self {
            Permission::Read => Role::Viewer,
            Permission::Control => Role::Operator,
        }
    }
}

/// Why a request was denied.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Denied {
    MissingCredential,
    UnknownUser(String),
    BadSecret(String),
    Forbidden {
        user: String,
        role: Role,
        needs: Role,
    },
}

impl fmt::Display for Denied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Denied::MissingCredential => f.write_str("denied: no credential"),
            Denied::UnknownUser(u) => write!(f, "denied: unknown user '{u}'"),
            Denied::BadSecret(u) => write!(f, "denied: wrong secret for '{u}'"),
            Denied::Forbidden { user, role, needs } => {
                write!(
                    f,
                    "denied: '{user}' is {role:?}, the request needs {needs:?}"
                )
            }
        }
    }
}

/// The users the PMS knows, with their secrets and roles.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthDb {
    users: BTreeMap<String, (String, Role)>,
}

impl AuthDb {
    pub fn new() -> Self {
        AuthDb::default()
    }

    pub fn with_user(mut self, user: &str, secret: &str, role: Role) -> Self {
        self.users
            .insert(user.to_string(), (secret.to_string(), role));
        self
    }

    /// Checks a request; returns the caller's role when allowed.
    pub fn authorize(&self, cred: Option<&Credential>, need: Permission) -> Result<Role, Denied> {
        let cred = cred.ok_or(Denied::MissingCredential)?;
        let (secret, role) = self
            .users
            .get(&cred.user)
            .ok_or_else(|| Denied::UnknownUser(cred.user.clone()))?;
        if *secret != cred.secret {
            return Err(Denied::BadSecret(cred.user.clone()));
        }
        if *role < need.needs() {
            return Err(Denied::Forbidden {
                user: cred.user.clone(),
                role: *role,
                needs: need.needs(),
            });
        }
        Ok(*role)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> AuthDb {
        AuthDb::new()
            .with_user("ann", "s3", Role::Operator)
            .with_user("vic", "v1", Role::Viewer)
    }

    fn cred(u: &str, s: &str) -> Credential {
        Credential {
            user: u.into(),
            secret: s.into(),
        }
    }

    #[test]
    fn operators_control_and_viewers_only_read() {
        let db = db();
        assert_eq!(
            db.authorize(Some(&cred("ann", "s3")), Permission::Control),
            Ok(Role::Operator)
        );
        assert_eq!(
            db.authorize(Some(&cred("vic", "v1")), Permission::Read),
            Ok(Role::Viewer)
        );
        assert_eq!(
            db.authorize(Some(&cred("vic", "v1")), Permission::Control),
            Err(Denied::Forbidden {
                user: "vic".into(),
                role: Role::Viewer,
                needs: Role::Operator
            })
        );
    }

    #[test]
    fn each_denial_names_its_reason() {
        let db = db();
        assert_eq!(
            db.authorize(None, Permission::Read),
            Err(Denied::MissingCredential)
        );
        assert_eq!(
            db.authorize(Some(&cred("eve", "x")), Permission::Read),
            Err(Denied::UnknownUser("eve".into()))
        );
        assert_eq!(
            db.authorize(Some(&cred("ann", "nope")), Permission::Read),
            Err(Denied::BadSecret("ann".into()))
        );
        assert_eq!(
            Denied::BadSecret("ann".into()).to_string(),
            "denied: wrong secret for 'ann'"
        );
    }
}
