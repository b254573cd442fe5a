//! JSON batching (`POST /$batch`): up to 20 requests in one HTTP request, each answered on its own.
//!
//! A batch is not all-or-nothing: every step gets its own result. Steps throttled (429) or failed
//! transiently (5xx) are re-sent, alone, by the client's retry policy, honouring their own
//! `Retry-After`; a step that failed because a step it depends on failed (424) is re-sent with
//! that step, or reported as [`GraphError::FailedDependency`]. More than 20 steps are split into
//! several batches, keeping every `dependsOn` chain in one batch.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::client::TenantGraph;
use crate::error::GraphError;
use crate::models::AssignedLicense;
use crate::transport::{Call, longest};
use crate::url_path::encode_segment;
use crate::writes::{AssignLicenseBody, MemberRef, UserPatch, member_path, user_path};

/// Graph's limit of requests in one `$batch` [learn: graph/json-batching].
pub const MAX_BATCH_STEPS: usize = 20;

/// One step of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchRequest {
    /// Unique within the batch; the result carries it.
    pub id: String,
    pub method: Method,
    /// Relative to the Graph base URL, e.g. `/users/{id}`.
    pub url: String,
    pub body: Option<Value>,
    pub headers: Vec<(String, String)>,
    /// Steps that must succeed before this one runs.
    pub depends_on: Vec<String>,
}

impl BatchRequest {
    /// A step without body, headers or dependencies.
    pub fn new(id: impl Into<String>, method: Method, url: impl Into<String>) -> Self {
        BatchRequest {
            id: id.into(),
            method,
            url: url.into(),
            body: None,
            headers: Vec::new(),
            depends_on: Vec::new(),
        }
    }

    /// Sets a JSON body (and `Content-Type: application/json`).
    pub fn with_body(mut self, body: Value) -> Self {
        self.body = Some(body);
        self
    }

    /// Adds a request header.
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Runs this step only after step `id` succeeded.
    pub fn after(mut self, id: impl Into<String>) -> Self {
        self.depends_on.push(id.into());
        self
    }

    /// PATCH /users/{id}.
    pub fn update_user(id: impl Into<String>, user_id: &str, patch: &UserPatch) -> Self {
        BatchRequest::new(id, Method::PATCH, user_path(user_id)).with_body(to_value(patch))
    }

    /// GET /users/{id}/{relation}: one of the user's collections or settings
    /// (`authentication/methods`, `appRoleAssignments`, `oauth2PermissionGrants`,
    /// `mailboxSettings`). `relation` is a path of the caller's code, never of input; the user id
    /// is encoded here.
    pub fn get_user_relation(id: impl Into<String>, user_id: &str, relation: &'static str) -> Self {
        BatchRequest::new(
            id,
            Method::GET,
            format!("{}/{relation}", user_path(user_id)),
        )
    }

    /// DELETE /users/{id}/{relation}/{entry}: one entry of a user's collection (an
    /// authentication method at `authentication/phoneMethods`, an app role assignment at
    /// `appRoleAssignments`, …). `relation` as for [`Self::get_user_relation`]; both ids are
    /// encoded here.
    pub fn delete_user_relation_entry(
        id: impl Into<String>,
        user_id: &str,
        relation: &'static str,
        entry_id: &str,
    ) -> Self {
        BatchRequest::new(
            id,
            Method::DELETE,
            format!(
                "{}/{relation}/{}",
                user_path(user_id),
                encode_segment(entry_id)
            ),
        )
    }

    /// DELETE /oauth2PermissionGrants/{id}: a delegated permission grant (listed under the user,
    /// deleted at the root).
    pub fn delete_permission_grant(id: impl Into<String>, grant_id: &str) -> Self {
        BatchRequest::new(
            id,
            Method::DELETE,
            format!("/oauth2PermissionGrants/{}", encode_segment(grant_id)),
        )
    }

    /// PATCH /users/{id}/mailboxSettings.
    pub fn update_mailbox_settings(id: impl Into<String>, user_id: &str, body: Value) -> Self {
        BatchRequest::new(
            id,
            Method::PATCH,
            format!("{}/mailboxSettings", user_path(user_id)),
        )
        .with_body(body)
    }

    /// DELETE /users/{id}.
    pub fn delete_user(id: impl Into<String>, user_id: &str) -> Self {
        BatchRequest::new(id, Method::DELETE, user_path(user_id))
    }

    /// POST /users/{id}/revokeSignInSessions. The action takes no parameters, but a write in a
    /// `$batch` must carry a body and a `Content-Type` header or Graph refuses the whole batch
    /// (400 "Write request id : … does not contain Content-Type header or body.");
    /// the body is then an empty object [learn: graph/json-batching].
    pub fn revoke_sign_in_sessions(id: impl Into<String>, user_id: &str) -> Self {
        BatchRequest::new(
            id,
            Method::POST,
            format!("{}/revokeSignInSessions", user_path(user_id)),
        )
        .with_body(Value::Object(serde_json::Map::new()))
    }

    /// POST /users/{id}/assignLicense.
    pub fn assign_license(
        id: impl Into<String>,
        user_id: &str,
        add: &[AssignedLicense],
        remove: &[String],
    ) -> Self {
        let body = AssignLicenseBody {
            add_licenses: add,
            remove_licenses: remove,
        };
        BatchRequest::new(
            id,
            Method::POST,
            format!("{}/assignLicense", user_path(user_id)),
        )
        .with_body(to_value(&body))
    }

    /// POST /groups/{id}/members/$ref; `member_url` from [`GraphClient::directory_object_url`](crate::GraphClient::directory_object_url).
    pub fn add_group_member(id: impl Into<String>, group_id: &str, member_url: String) -> Self {
        let body = MemberRef {
            odata_id: member_url,
        };
        BatchRequest::new(
            id,
            Method::POST,
            format!("/groups/{}/members/$ref", encode_segment(group_id)),
        )
        .with_body(to_value(&body))
    }

    /// PUT /users/{id}/manager/$ref; `manager_url` from [`GraphClient::directory_object_url`](crate::GraphClient::directory_object_url).
    pub fn set_manager(id: impl Into<String>, user_id: &str, manager_url: String) -> Self {
        let body = MemberRef {
            odata_id: manager_url,
        };
        BatchRequest::new(
            id,
            Method::PUT,
            format!("{}/manager/$ref", user_path(user_id)),
        )
        .with_body(to_value(&body))
    }

    /// DELETE /groups/{id}/members/{id}/$ref.
    pub fn remove_group_member(id: impl Into<String>, group_id: &str, object_id: &str) -> Self {
        BatchRequest::new(id, Method::DELETE, member_path(group_id, object_id))
    }
}

/// These bodies are plain structs of strings and booleans; serialising them cannot fail.
fn to_value<T: Serialize>(body: &T) -> Value {
    serde_json::to_value(body).unwrap_or(Value::Null)
}

/// A step's successful answer.
#[derive(Debug, Clone, PartialEq)]
pub struct BatchResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Option<Value>,
    /// The step's `request-id` header if Graph gave one, else that of the `$batch` request.
    pub request_id: Option<String>,
}

impl BatchResponse {
    /// The body as a typed value.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, GraphError> {
        let body = self.body.clone().unwrap_or(Value::Null);
        serde_json::from_value(body).map_err(|e| {
            GraphError::unexpected(
                self.status,
                self.request_id.clone(),
                format!("batch step body: {e}"),
            )
        })
    }
}

/// A step's result, in the order the steps were given.
#[derive(Debug)]
pub struct BatchOutcome {
    pub id: String,
    pub result: Result<BatchResponse, GraphError>,
}

#[derive(Serialize)]
struct WireBatch<'a> {
    requests: Vec<WireRequest<'a>>,
}

#[derive(Serialize)]
struct WireRequest<'a> {
    id: &'a str,
    method: &'a str,
    url: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    body: Option<&'a Value>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    headers: BTreeMap<&'a str, &'a str>,
    #[serde(rename = "dependsOn", skip_serializing_if = "Vec::is_empty")]
    depends_on: Vec<&'a str>,
}

#[derive(Deserialize)]
struct WireReply {
    #[serde(default)]
    responses: Vec<WireResponse>,
}

#[derive(Deserialize)]
struct WireResponse {
    id: String,
    #[serde(default)]
    status: u16,
    #[serde(default)]
    headers: Option<serde_json::Map<String, Value>>,
    #[serde(default)]
    body: Option<Value>,
}

impl TenantGraph {
    /// Sends the steps as `$batch` requests (20 at most per request) and returns one outcome per
    /// step, in the given order. `Err` only for input that cannot be sent (duplicate or empty
    /// ids, an unknown `dependsOn`, a dependency chain of more than 20 steps); nothing is sent then.
    pub async fn batch(
        &self,
        requests: Vec<BatchRequest>,
    ) -> Result<Vec<BatchOutcome>, GraphError> {
        let chunks = plan(&requests)?;
        let mut results: Vec<Option<Result<BatchResponse, GraphError>>> =
            requests.iter().map(|_| None).collect();
        let mut failure: Option<Arc<GraphError>> = None;
        for chunk in chunks {
            if let Some(error) = &failure {
                for i in chunk {
                    results[i] = Some(Err(GraphError::BatchFailed(error.clone())));
                }
                continue;
            }
            if let Err((error, pending)) = self.run_chunk(&requests, chunk, &mut results).await {
                let error = Arc::new(error);
                for i in pending {
                    results[i] = Some(Err(GraphError::BatchFailed(error.clone())));
                }
                failure = Some(error);
            }
        }
        Ok(requests
            .into_iter()
            .zip(results)
            .map(|(request, result)| BatchOutcome {
                id: request.id,
                result: result.unwrap_or_else(|| {
                    Err(GraphError::unexpected(
                        200,
                        None,
                        "the batch step got no answer",
                    ))
                }),
            })
            .collect())
    }

    /// Runs one chunk until every step has a final result. On a failure of the `$batch` request
    /// itself, returns it with the steps still pending.
    async fn run_chunk(
        &self,
        requests: &[BatchRequest],
        chunk: Vec<usize>,
        results: &mut [Option<Result<BatchResponse, GraphError>>],
    ) -> Result<(), (GraphError, Vec<usize>)> {
        let policy = self.retry_policy();
        let started = Instant::now();
        let mut attempt = 0u32;
        let mut pending = chunk;
        loop {
            attempt += 1;
            let reply = match self.send_batch(requests, &pending).await {
                Ok(reply) => reply,
                Err(error) => return Err((error, pending)),
            };
            let (batch_request_id, mut responses) = reply;
            let mut retry: Vec<(usize, GraphError)> = Vec::new();
            let mut blocked: Vec<(usize, GraphError)> = Vec::new();
            for &i in &pending {
                let Some(response) = responses.remove(requests[i].id.as_str()) else {
                    results[i] = Some(Err(GraphError::unexpected(
                        200,
                        batch_request_id.clone(),
                        format!(
                            "the $batch answer has no response for step {:?}",
                            requests[i].id
                        ),
                    )));
                    continue;
                };
                match step_result(response, &batch_request_id) {
                    Ok(ok) => results[i] = Some(Ok(ok)),
                    Err(error) => {
                        if matches!(error, GraphError::Throttled { .. }) {
                            self.metrics_cell().throttled(1);
                        }
                        if error.is_retryable() {
                            retry.push((i, error));
                        } else if matches!(error, GraphError::FailedDependency(_)) {
                            blocked.push((i, error));
                        } else {
                            results[i] = Some(Err(error));
                        }
                    }
                }
            }
            // A 424 step goes again only together with a step it (transitively) depends on.
            let mut resend: HashSet<&str> = retry
                .iter()
                .map(|(i, _)| requests[*i].id.as_str())
                .collect();
            loop {
                let before = resend.len();
                for (i, _) in &blocked {
                    if requests[*i]
                        .depends_on
                        .iter()
                        .any(|d| resend.contains(d.as_str()))
                    {
                        resend.insert(requests[*i].id.as_str());
                    }
                }
                if resend.len() == before {
                    break;
                }
            }
            let (blocked_again, blocked_final): (Vec<_>, Vec<_>) = blocked
                .into_iter()
                .partition(|(i, _)| resend.contains(requests[*i].id.as_str()));
            for (i, error) in blocked_final {
                results[i] = Some(Err(error));
            }
            if retry.is_empty() {
                return Ok(());
            }
            let wait = longest(retry.iter().map(|(_, e)| e.retry_after()));
            match policy.next_delay(attempt, wait, started.elapsed()) {
                Some(delay) => {
                    tracing::debug!(
                        attempt,
                        ?delay,
                        steps = retry.len(),
                        "re-sending throttled or failed batch steps"
                    );
                    self.metrics_cell().retry();
                    tokio::time::sleep(delay).await;
                    let mut next: Vec<usize> = retry
                        .iter()
                        .chain(&blocked_again)
                        .map(|(i, _)| *i)
                        .collect();
                    next.sort_unstable();
                    pending = next;
                }
                None => {
                    for (i, error) in retry.into_iter().chain(blocked_again) {
                        results[i] = Some(Err(error));
                    }
                    return Ok(());
                }
            }
        }
    }

    async fn send_batch(
        &self,
        requests: &[BatchRequest],
        pending: &[usize],
    ) -> Result<(Option<String>, HashMap<String, WireResponse>), GraphError> {
        let ids: HashSet<&str> = pending.iter().map(|&i| requests[i].id.as_str()).collect();
        let wire = WireBatch {
            requests: pending
                .iter()
                .map(|&i| wire_request(&requests[i], &ids))
                .collect(),
        };
        let call = Call::new(Method::POST, self.url("/$batch")?).json(&wire)?;
        let reply = self.send(&call).await?;
        let parsed: WireReply = reply.json()?;
        let responses = parsed
            .responses
            .into_iter()
            .map(|r| (r.id.clone(), r))
            .collect();
        Ok((reply.request_id, responses))
    }
}

fn wire_request<'a>(request: &'a BatchRequest, pending: &HashSet<&str>) -> WireRequest<'a> {
    let mut headers: BTreeMap<&str, &str> = request
        .headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    if request.body.is_some()
        && !headers
            .keys()
            .any(|k| k.eq_ignore_ascii_case("content-type"))
    {
        headers.insert("Content-Type", "application/json");
    }
    WireRequest {
        id: &request.id,
        method: request.method.as_str(),
        url: &request.url,
        body: request.body.as_ref(),
        headers,
        // Steps that already succeeded in an earlier round are not sent again, nor waited on.
        depends_on: request
            .depends_on
            .iter()
            .map(String::as_str)
            .filter(|d| pending.contains(d))
            .collect(),
    }
}

fn step_result(
    response: WireResponse,
    batch_request_id: &Option<String>,
) -> Result<BatchResponse, GraphError> {
    let headers: Vec<(String, String)> = response
        .headers
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(k, v)| match v {
            Value::String(s) => Some((k, s)),
            Value::Null => None,
            other => Some((k, other.to_string())),
        })
        .collect();
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    let request_id = header("request-id")
        .map(str::to_owned)
        .or_else(|| batch_request_id.clone());
    if (200..300).contains(&response.status) {
        return Ok(BatchResponse {
            status: response.status,
            body: response.body,
            request_id,
            headers,
        });
    }
    let retry_after = header("retry-after").and_then(crate::retry::parse_retry_after);
    let body = response
        .body
        .map(|b| serde_json::to_vec(&b).unwrap_or_default())
        .unwrap_or_default();
    Err(GraphError::from_response(
        response.status,
        retry_after,
        request_id,
        &body,
    ))
}

/// Splits the steps into batches of at most 20, each `dependsOn` chain whole, in the given order.
fn plan(requests: &[BatchRequest]) -> Result<Vec<Vec<usize>>, GraphError> {
    let invalid = |reason: String| GraphError::InvalidRequest { reason };
    let mut index: HashMap<&str, usize> = HashMap::new();
    let mut folded: HashSet<String> = HashSet::new();
    for (i, request) in requests.iter().enumerate() {
        if request.id.is_empty() {
            return Err(invalid(format!("batch step {i} has an empty id")));
        }
        // Graph compares step ids without regard to case [learn: graph/json-batching].
        if !folded.insert(request.id.to_lowercase())
            || index.insert(request.id.as_str(), i).is_some()
        {
            return Err(invalid(format!(
                "batch step id {:?} is used twice",
                request.id
            )));
        }
        if !request.url.starts_with('/') {
            return Err(invalid(format!(
                "batch step {:?}: the url must start with '/'",
                request.id
            )));
        }
        // Graph refuses the whole batch when a write step lacks a body [learn: graph/json-batching].
        let write = [Method::POST, Method::PATCH, Method::PUT].contains(&request.method);
        if write && request.body.is_none() {
            return Err(invalid(format!(
                "batch step {:?}: a {} step needs a body (an empty object if the call takes none)",
                request.id, request.method
            )));
        }
    }
    // Union-find over dependsOn: each component must travel in one batch.
    let mut parent: Vec<usize> = (0..requests.len()).collect();
    fn root(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    for (i, request) in requests.iter().enumerate() {
        for dependency in &request.depends_on {
            let Some(&j) = index.get(dependency.as_str()) else {
                return Err(invalid(format!(
                    "batch step {:?} depends on unknown step {dependency:?}",
                    request.id
                )));
            };
            let (a, b) = (root(&mut parent, i), root(&mut parent, j));
            parent[a.max(b)] = a.min(b);
        }
    }
    let mut components: Vec<Vec<usize>> = Vec::new();
    let mut component_of: HashMap<usize, usize> = HashMap::new();
    for i in 0..requests.len() {
        let r = root(&mut parent, i);
        let c = *component_of.entry(r).or_insert_with(|| {
            components.push(Vec::new());
            components.len() - 1
        });
        components[c].push(i);
    }
    let mut chunks: Vec<Vec<usize>> = Vec::new();
    for component in components {
        if component.len() > MAX_BATCH_STEPS {
            return Err(invalid(format!(
                "a dependsOn chain of {} steps does not fit one $batch of {MAX_BATCH_STEPS}",
                component.len()
            )));
        }
        match chunks.last_mut() {
            Some(last) if last.len() + component.len() <= MAX_BATCH_STEPS => last.extend(component),
            _ => chunks.push(component),
        }
    }
    for chunk in &mut chunks {
        chunk.sort_unstable();
    }
    Ok(chunks)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(id: &str) -> BatchRequest {
        BatchRequest::new(id, Method::GET, format!("/users/{id}"))
    }

    #[test]
    fn given_45_steps_with_a_chain_when_planned_then_chunks_hold_20_and_keep_the_chain() {
        // GIVEN 45 steps where s19 and s20 depend on s18 (a chain across the 20 boundary)
        let mut steps: Vec<BatchRequest> = (0..45).map(|i| step(&format!("s{i}"))).collect();
        steps[19] = step("s19").after("s18");
        steps[20] = step("s20").after("s18");
        // WHEN planned
        let chunks = plan(&steps).map_err(|e| e.to_string());
        // THEN every chunk has at most 20 and the chain is in one chunk
        let chunks = chunks.unwrap_or_else(|e| panic!("{e}"));
        assert!(chunks.iter().all(|c| c.len() <= MAX_BATCH_STEPS));
        assert_eq!(chunks.iter().map(Vec::len).sum::<usize>(), 45);
        assert!(
            chunks
                .iter()
                .any(|c| c.contains(&18) && c.contains(&19) && c.contains(&20))
        );
    }

    #[test]
    fn given_bad_steps_when_planned_then_invalid_request() {
        assert!(plan(&[step("a"), step("a")]).is_err());
        assert!(plan(&[step("a").after("zz")]).is_err());
        let chain: Vec<BatchRequest> = (0..21)
            .map(|i| {
                if i == 0 {
                    step("c0")
                } else {
                    step(&format!("c{i}")).after(format!("c{}", i - 1))
                }
            })
            .collect();
        assert!(plan(&chain).is_err());
    }

    #[test]
    fn given_ids_differing_only_in_case_when_planned_then_invalid_request() {
        // GIVEN two steps "a" and "A": Graph's step ids are not case-sensitive
        // [learn: graph/json-batching, property `id`]
        // WHEN planned THEN refused before anything is sent
        assert!(plan(&[step("a"), step("A")]).is_err());
    }

    #[test]
    fn given_a_write_step_without_body_when_planned_then_invalid_request() {
        // GIVEN a POST step without body (Graph refuses the whole batch: "Write request id : 1
        // does not contain Content-Type header or body.") [learn: graph/json-batching]
        let bare = BatchRequest::new("1", Method::POST, "/users/u1/revokeSignInSessions");
        // WHEN planned THEN refused; the revoke builder carries an empty JSON object instead
        assert!(plan(&[bare]).is_err());
        let revoke = BatchRequest::revoke_sign_in_sessions("1", "u1");
        assert_eq!(revoke.body, Some(serde_json::json!({})));
        assert!(plan(&[revoke]).is_ok());
    }

    #[test]
    fn given_a_step_with_a_body_when_put_on_the_wire_then_it_carries_content_type() {
        // GIVEN the revoke step WHEN serialised THEN body {} and Content-Type: application/json
        let revoke = BatchRequest::revoke_sign_in_sessions("1", "u1");
        let wire = serde_json::to_value(wire_request(&revoke, &HashSet::new()))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(wire["body"], serde_json::json!({}));
        assert_eq!(wire["headers"]["Content-Type"], "application/json");
    }
}
