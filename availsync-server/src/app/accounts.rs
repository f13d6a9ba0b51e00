//! Sign-up and log-in: validation, the throttles, password hashing in its
//! bounded pool, and the new session.

use availsync_types::{LoginRequest, SignupRequest};

use super::{AppError, Services};
use crate::domain::login_throttle::Verdict;
use crate::domain::password::{hash_password, verify_password};
use crate::domain::secrets::{Secret, new_session_token};
use crate::domain::validate;
use crate::store::{FailedLogin, LoginAttempt, NewLogin, NewSession, NewSignup, SessionContext};

impl Services {
    /// A new session token, and what the store keeps of it.
    fn new_session(&self) -> (Secret, NewSession) {
        let token = new_session_token();
        let session = NewSession {
            token_hash: token.hash(),
            ttl_ms: i64::try_from(self.session_ttl.as_millis()).unwrap_or(i64::MAX),
        };
        (token, session)
    }
}

/// Validates a sign-up from `client` (an address, as throttles key it),
/// hashes the password and creates the workspace, its user and a session:
/// the rules behind `POST /v1/auth/signup` and the dashboard's form.
pub async fn sign_up(
    services: &Services,
    client: &str,
    request: SignupRequest,
) -> Result<(Secret, SessionContext), AppError> {
    let email_norm = validate::email(&request.email)?;
    validate::new_password(&request.password)?;
    let workspace_name = validate::name("workspace_name", &request.workspace_name)?;
    services
        .signups
        .admit(client, std::time::Instant::now())
        .map_err(|retry_after| AppError::RateLimited {
            message: "too many sign-ups from this address; wait before trying again",
            retry_after,
        })?;
    let password = request.password;
    let password_hash = services
        .hashing
        .run(move || hash_password(&password))
        .await?
        .map_err(|e| AppError::Hashing(e.to_string()))?;
    let (token, session) = services.new_session();
    let ctx = services
        .store
        .signup(NewSignup {
            email: request.email,
            email_norm,
            password_hash,
            workspace_name,
            session,
        })
        .await?;
    Ok((token, ctx))
}

/// Checks the throttles and the password of a log-in from `client` and
/// opens a session: the rules behind `POST /v1/auth/login` and the
/// dashboard's form.
pub async fn log_in(
    services: &Services,
    client: &str,
    request: LoginRequest,
) -> Result<(Secret, SessionContext), AppError> {
    let attempt = LoginAttempt {
        email_norm: validate::normalise_email(&request.email),
        client: client.to_owned(),
    };
    let failures = services.store.recent_login_failures(&attempt).await?;
    match failures.verdict() {
        Verdict::Refuse { retry_after } => {
            return Err(AppError::RateLimited {
                message: "too many failed logins from this address; wait before trying again",
                retry_after,
            });
        }
        Verdict::Check { delay } if !delay.is_zero() => tokio::time::sleep(delay).await,
        Verdict::Check { .. } => {}
    }
    let credentials = services
        .store
        .login_credentials(&attempt.email_norm)
        .await?;
    let stored_hash = credentials.as_ref().map(|c| c.password_hash.clone());
    let password = request.password;
    let verified = services
        .hashing
        .run(move || verify_password(&password, stored_hash.as_deref()))
        .await?;
    let user = match (verified, credentials) {
        (true, Some(user)) => user,
        (_, account) => {
            let failure = FailedLogin { attempt, account };
            services.store.record_login_failure(failure).await?;
            return Err(AppError::WrongCredentials);
        }
    };
    let (token, session) = services.new_session();
    let login = NewLogin {
        user_id: user.user_id,
        client: attempt.client,
        session,
    };
    let ctx = services.store.login(login).await?;
    Ok((token, ctx))
}
