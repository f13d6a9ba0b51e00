//! A new account: the workspace, its first user and their first session,
//! as a sign-up makes them.

use availsync_types::{Plan, Timestamp, User, Workspace};

use super::callers::SessionContext;
use super::events::{self, Events};
use super::ids::{UserId, WorkspaceId};

/// A new session token's hash and lifetime.
#[derive(Debug, Clone)]
pub struct NewSession {
    /// SHA-256 of the token.
    pub token_hash: Vec<u8>,
    /// Session lifetime in milliseconds.
    pub ttl_ms: i64,
}

/// What signup stores.
#[derive(Debug, Clone)]
pub struct NewSignup {
    /// The email as given.
    pub email: String,
    /// The email lower-cased.
    pub email_norm: String,
    /// argon2id PHC string.
    pub password_hash: String,
    /// The new workspace's name.
    pub workspace_name: String,
    /// The first session.
    pub session: NewSession,
}

/// The account a sign-up at `now` makes (a workspace on the free plan and
/// its first user, signed in), and its `signup` audit event.
pub fn sign_up(new: &NewSignup, now: Timestamp) -> (SessionContext, Events) {
    let workspace_id = WorkspaceId::generate();
    let user_id = UserId::generate();
    let session = SessionContext {
        user: User {
            id: user_id.into_string(),
            email: new.email.clone(),
            workspace_id: workspace_id.to_string(),
            created_at: now,
        },
        workspace: Workspace {
            id: workspace_id.into_string(),
            name: new.workspace_name.clone(),
            plan: Plan::Free,
            created_at: now,
        },
        token_hash: new.session.token_hash.clone(),
    };
    let events = events::signup(&session);
    (session, events)
}

#[cfg(test)]
mod tests {
    use availsync_types::AuditAction;

    use super::*;

    #[test]
    fn a_sign_up_opens_a_free_workspace_with_its_user_signed_in() {
        let new = NewSignup {
            email: "Pat@Example.com".into(),
            email_norm: "pat@example.com".into(),
            password_hash: "$argon2id$…".into(),
            workspace_name: "Pat's team".into(),
            session: NewSession {
                token_hash: vec![7],
                ttl_ms: 1_000,
            },
        };
        let now = Timestamp::from_unix_millis(5);
        let (session, events) = sign_up(&new, now);
        assert!(session.workspace.id.starts_with("ws_"));
        assert!(session.user.id.starts_with("usr_"));
        assert_eq!(session.user.workspace_id, session.workspace.id);
        assert_eq!(session.user.email, "Pat@Example.com");
        assert_eq!(
            (session.workspace.plan, session.workspace.created_at),
            (Plan::Free, now)
        );
        assert_eq!(session.token_hash, vec![7]);
        let audit = &events.audits[0];
        assert_eq!(audit.action, AuditAction::Signup);
        assert_eq!(
            audit.workspace_id.as_deref(),
            Some(session.workspace.id.as_str())
        );
        assert_eq!(audit.detail["workspace_name"], "Pat's team");
    }
}
