//! The admin client for humans: sign up, log in, manage agents and keys,
//! read the audit log.

use std::sync::{Arc, Mutex};

use availsync_types::{
    ActivityItem, Agent, AgentResponse, AgentWithKey, AuditItem, AuthResponse, CreateAgentRequest,
    CreateRuleRequest, LoginRequest, Mode, Page, ReleaseClaimResponse, Rule, RuleList,
    RuleResponse, Run, SessionResponse, SignupRequest, Timestamp, UpdateAgentRequest,
    UpdateRuleRequest, UsageResponse,
};
use futures::Stream;

use crate::config::ClientBuilder;
use crate::error::Result;
use crate::paging::AgentsQuery;
use crate::requests::{ActivityQuery, AuditQuery, RunsQuery};
use crate::transport::{Call, Credentials, Retry, Transport};

/// A human's client. It keeps the session cookie that signup or login set
/// and sends it with every call.
///
/// ```no_run
/// # async fn demo() -> availsync_sdk::Result<()> {
/// use availsync_sdk::AdminClient;
///
/// let admin = AdminClient::new("http://127.0.0.1:8787")?;
/// admin.login("ana@example.com", "correct horse battery").await?;
/// let created = admin.create_agent("ci-bot", None).await?;
/// println!("store this key now: {}", created.api_key);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct AdminClient {
    transport: Transport,
}

impl std::fmt::Debug for AdminClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminClient")
            .field("base_url", &self.transport.base_url())
            .field("signed_in", &self.is_signed_in())
            .finish()
    }
}

impl AdminClient {
    /// A client for the server at `base_url`, not yet signed in.
    pub fn new(base_url: &str) -> Result<Self> {
        Self::with_builder(ClientBuilder::new().base_url(base_url))
    }

    /// A client with the builder's URL, timeouts and retry policy (its API
    /// key, if any, is not used).
    pub fn with_builder(builder: ClientBuilder) -> Result<Self> {
        Ok(Self {
            transport: builder.transport(Credentials::Session(Arc::new(Mutex::new(None))))?,
        })
    }

    /// True once signup or login succeeded (and until logout).
    pub fn is_signed_in(&self) -> bool {
        match self.transport.credentials() {
            Credentials::Session(cookie) => cookie.lock().map(|c| c.is_some()).unwrap_or(false),
            Credentials::ApiKey(_) => false,
        }
    }

    /// `POST /v1/auth/signup`: creates a workspace and signs in.
    pub async fn signup(
        &self,
        email: &str,
        password: &str,
        workspace_name: &str,
    ) -> Result<AuthResponse> {
        let body = SignupRequest {
            email: email.to_owned(),
            password: password.to_owned(),
            workspace_name: workspace_name.to_owned(),
        };
        let call = Call::post("/v1/auth/signup").retry(Retry::ConnectOnly);
        self.transport.json(call, Some(&body)).await
    }

    /// `POST /v1/auth/login`.
    pub async fn login(&self, email: &str, password: &str) -> Result<AuthResponse> {
        let body = LoginRequest {
            email: email.to_owned(),
            password: password.to_owned(),
        };
        let call = Call::post("/v1/auth/login").retry(Retry::ConnectOnly);
        self.transport.json(call, Some(&body)).await
    }

    /// `POST /v1/auth/logout`: revokes the session.
    pub async fn logout(&self) -> Result<()> {
        self.transport
            .empty(Call::post("/v1/auth/logout"), None::<&()>)
            .await?;
        if let Credentials::Session(cookie) = self.transport.credentials()
            && let Ok(mut cookie) = cookie.lock()
        {
            *cookie = None;
        }
        Ok(())
    }

    /// `GET /v1/session`.
    pub async fn session(&self) -> Result<SessionResponse> {
        self.transport
            .json(Call::get("/v1/session"), None::<&()>)
            .await
    }

    /// `POST /v1/agents`: the answer holds the API key, shown this once.
    pub async fn create_agent(&self, name: &str, mode: Option<Mode>) -> Result<AgentWithKey> {
        let body = CreateAgentRequest {
            name: name.to_owned(),
            mode,
        };
        let call = Call::post("/v1/agents").retry(Retry::ConnectOnly);
        self.transport.json(call, Some(&body)).await
    }

    /// `GET /v1/agents`: one page, newest first.
    pub async fn agents_page(
        &self,
        limit: Option<u32>,
        cursor: Option<&str>,
    ) -> Result<Page<Agent>> {
        self.transport.page(&AgentsQuery { limit }, cursor).await
    }

    /// `PATCH /v1/agents/{id}`.
    pub async fn update_agent(&self, agent_id: &str, update: &UpdateAgentRequest) -> Result<Agent> {
        let call = Call::patch("/v1/agents/{agent_id}").id(agent_id);
        let answer: AgentResponse = self.transport.json(call, Some(update)).await?;
        Ok(answer.agent)
    }

    /// `POST /v1/agents/{id}/rotate-key`: the old key stops working at once.
    pub async fn rotate_key(&self, agent_id: &str) -> Result<AgentWithKey> {
        let call = Call::post("/v1/agents/{agent_id}/rotate-key")
            .id(agent_id)
            .retry(Retry::ConnectOnly);
        self.transport.json(call, None::<&()>).await
    }

    /// `DELETE /v1/agents/{id}`: its key stops working; its claims are
    /// released.
    pub async fn delete_agent(&self, agent_id: &str) -> Result<()> {
        let call = Call::delete("/v1/agents/{agent_id}")
            .id(agent_id)
            .retry(Retry::ConnectOnly);
        self.transport.empty(call, None::<&()>).await
    }

    /// `GET /v1/rules`: every rule of the workspace, by resource.
    pub async fn rules(&self) -> Result<Vec<Rule>> {
        let list: RuleList = self
            .transport
            .json(Call::get("/v1/rules"), None::<&()>)
            .await?;
        Ok(list.items)
    }

    /// `POST /v1/rules` (SPEC §11): a rule about one resource — what a
    /// claim on it also claims (`depends_on`), how many live claims it
    /// admits (`capacity`), a forced `observe` mode, a cap on lease length.
    /// A second rule for one resource is `409 rule_exists`; a dependency
    /// cycle `400 rule_cycle`, with the offending field in
    /// [`ApiError::field`](crate::ApiError).
    ///
    /// ```no_run
    /// # async fn demo(admin: availsync_sdk::AdminClient) -> availsync_sdk::Result<()> {
    /// use availsync_sdk::types::CreateRuleRequest;
    ///
    /// let rule = admin
    ///     .create_rule(&CreateRuleRequest {
    ///         resource: "project:homepage".into(),
    ///         depends_on: Some(vec!["project:product-catalog".into()]),
    ///         capacity: None,
    ///         mode: None,
    ///         max_ttl_seconds: Some(900),
    ///         note: Some("the homepage renders the catalog".into()),
    ///     })
    ///     .await?;
    /// println!("{} depends on {:?}", rule.resource, rule.depends_on);
    /// # Ok(()) }
    /// ```
    pub async fn create_rule(&self, rule: &CreateRuleRequest) -> Result<Rule> {
        let call = Call::post("/v1/rules").retry(Retry::ConnectOnly);
        let answer: RuleResponse = self.transport.json(call, Some(rule)).await?;
        Ok(answer.rule)
    }

    /// `PATCH /v1/rules/{rule_id}`: the fields given change.
    pub async fn update_rule(&self, rule_id: &str, update: &UpdateRuleRequest) -> Result<Rule> {
        let call = Call::patch("/v1/rules/{rule_id}").id(rule_id);
        let answer: RuleResponse = self.transport.json(call, Some(update)).await?;
        Ok(answer.rule)
    }

    /// `DELETE /v1/rules/{rule_id}`: claims already granted keep what they
    /// hold; later starts no longer follow the rule.
    pub async fn delete_rule(&self, rule_id: &str) -> Result<()> {
        let call = Call::delete("/v1/rules/{rule_id}")
            .id(rule_id)
            .retry(Retry::ConnectOnly);
        self.transport.empty(call, None::<&()>).await
    }

    /// `GET /v1/audit`: one page.
    pub async fn audit_page(
        &self,
        query: &AuditQuery,
        cursor: Option<&str>,
    ) -> Result<Page<AuditItem>> {
        self.transport.page(query, cursor).await
    }

    /// `GET /v1/audit`: every page, newest first, as a stream.
    pub fn audit(
        &self,
        query: AuditQuery,
    ) -> impl Stream<Item = Result<AuditItem>> + Send + 'static {
        self.transport.list(query)
    }

    /// `GET /v1/activity`: every page, newest first, as a stream.
    pub fn activity(
        &self,
        query: ActivityQuery,
    ) -> impl Stream<Item = Result<ActivityItem>> + Send + 'static {
        self.transport.list(query)
    }

    /// `GET /v1/work/runs`: one page.
    pub async fn runs_page(&self, query: &RunsQuery, cursor: Option<&str>) -> Result<Page<Run>> {
        self.transport.page(query, cursor).await
    }

    /// `POST /v1/work/claims/{claim_id}/release`: ends a run's lease now
    /// (its agent learns at its next extend, `lease_lost`). Idempotent: a
    /// claim that has already ended answers `released: false`.
    pub async fn release_claim(&self, claim_id: &str) -> Result<ReleaseClaimResponse> {
        let call = Call::post("/v1/work/claims/{claim_id}/release").id(claim_id);
        self.transport.json(call, None::<&()>).await
    }

    /// `POST /v1/activity/usage`.
    pub async fn usage(
        &self,
        since: Option<Timestamp>,
        until: Option<Timestamp>,
    ) -> Result<UsageResponse> {
        self.transport.usage(since, until).await
    }
}
