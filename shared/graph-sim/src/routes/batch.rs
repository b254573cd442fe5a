//! POST /$batch: up to 20 requests, run in order with `dependsOn`; each inner request goes
//! through the same authentication context, fault injection and throttling as a plain one.

use std::collections::HashMap;

use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use serde_json::{Map, Value, json};

use crate::auth::Caller;
use crate::http::{self, RequestIds, Resp};
use crate::routes::{Request, serve_one};
use crate::state::Sim;

/// Graph's limit on requests in one batch.
const MAX_REQUESTS: usize = 20;

struct Inner {
    id: String,
    method: Method,
    url: String,
    headers: HeaderMap,
    body: Vec<u8>,
    depends_on: Vec<String>,
}

fn bad(ids: &RequestIds, msg: &str) -> Resp {
    http::error(ids, StatusCode::BAD_REQUEST, "BadRequest", msg)
}

/// Methods Graph accepts in a batch step; POST, PATCH and PUT are writes and need a body.
fn step_method(m: &str) -> Option<(Method, bool)> {
    match m.to_ascii_uppercase().as_str() {
        "GET" => Some((Method::GET, false)),
        "DELETE" => Some((Method::DELETE, false)),
        "POST" => Some((Method::POST, true)),
        "PATCH" => Some((Method::PATCH, true)),
        "PUT" => Some((Method::PUT, true)),
        _ => None,
    }
}

/// Checks the batch envelope as Graph does before running anything
/// [learn: graph/json-batching, "Creating a batch request"]: `requests` present, at most 20,
/// each with a string `id` unique in the batch (ids are not case-sensitive), a supported
/// `method`, a relative `url`, a `headers` object of strings, a `body` with a `Content-Type`
/// header whenever a body is given and on every write (POST, PATCH, PUT: "you must still
/// specify the headers and body parameters where only body can be an empty object"), and
/// `dependsOn` naming other steps of the batch. Any violation fails the whole batch with 400.
fn parse(ids: &RequestIds, body: &[u8]) -> Result<Vec<Inner>, Resp> {
    let v: Value =
        serde_json::from_slice(body).map_err(|_| bad(ids, "Invalid batch payload format."))?;
    let reqs = v["requests"]
        .as_array()
        .ok_or_else(|| bad(ids, "Invalid batch payload format."))?;
    if reqs.is_empty() {
        return Err(bad(ids, "Invalid batch payload format: requests is empty."));
    }
    if reqs.len() > MAX_REQUESTS {
        return Err(bad(
            ids,
            "The number of requests in the batch exceeds the limit of 20.",
        ));
    }
    let mut out: Vec<Inner> = Vec::with_capacity(reqs.len());
    for r in reqs {
        let id = match &r["id"] {
            Value::String(s) if !s.is_empty() => s.clone(),
            _ => {
                return Err(bad(
                    ids,
                    "Invalid batch payload format: every request needs a string id.",
                ));
            }
        };
        if out.iter().any(|o| o.id.eq_ignore_ascii_case(&id)) {
            return Err(bad(
                ids,
                &format!("Request IDs must be unique. Duplicate id: {id}."),
            ));
        }
        let (method, write) = r["method"]
            .as_str()
            .and_then(step_method)
            .ok_or_else(|| bad(ids, &format!("Request id {id} has no valid method.")))?;
        let url = r["url"]
            .as_str()
            .filter(|u| !u.is_empty() && !u.contains("://"))
            .ok_or_else(|| {
                bad(
                    ids,
                    &format!("Request id {id}: the url must be relative, e.g. /users."),
                )
            })?
            .to_string();
        let mut headers = HeaderMap::new();
        match &r["headers"] {
            Value::Null => {}
            Value::Object(h) => {
                for (k, v) in h {
                    let (Ok(k), Some(Ok(v))) = (
                        HeaderName::from_bytes(k.to_ascii_lowercase().as_bytes()),
                        v.as_str().map(HeaderValue::from_str),
                    ) else {
                        return Err(bad(
                            ids,
                            &format!("Request id {id}: header '{k}' is not a valid header."),
                        ));
                    };
                    headers.insert(k, v);
                }
            }
            _ => {
                return Err(bad(
                    ids,
                    &format!("Request id {id}: headers must be an object."),
                ));
            }
        }
        let given = r.get("body").filter(|b| !b.is_null());
        if (write || given.is_some()) && (given.is_none() || !headers.contains_key("content-type"))
        {
            return Err(bad(
                ids,
                &format!("Write request id : {id} does not contain Content-Type header or body."),
            ));
        }
        let body = given
            .map(|b| serde_json::to_vec(b).unwrap_or_default())
            .unwrap_or_default();
        let depends_on = match &r["dependsOn"] {
            Value::Null => Vec::new(),
            Value::Array(a) => {
                let mut d = Vec::with_capacity(a.len());
                for x in a {
                    let Some(x) = x.as_str() else {
                        return Err(bad(
                            ids,
                            &format!("Request id {id}: dependsOn must be an array of ids."),
                        ));
                    };
                    d.push(x.to_string());
                }
                d
            }
            _ => {
                return Err(bad(
                    ids,
                    &format!("Request id {id}: dependsOn must be an array of ids."),
                ));
            }
        };
        out.push(Inner {
            id,
            method,
            url,
            headers,
            body,
            depends_on,
        });
    }
    let step_ids: Vec<String> = out.iter().map(|o| o.id.clone()).collect();
    for r in &mut out {
        for d in &mut r.depends_on {
            // Ids are not case-sensitive: a dependency names the step in any case.
            match step_ids.iter().find(|s| s.eq_ignore_ascii_case(d)) {
                Some(s) if !s.eq_ignore_ascii_case(&r.id) => *d = s.clone(),
                _ => {
                    return Err(bad(
                        ids,
                        &format!("Request id {} depends on unknown request {d}.", r.id),
                    ));
                }
            }
        }
    }
    Ok(out)
}

fn sub_response(id: &str, r: &Resp) -> Value {
    let mut headers = Map::new();
    for (k, v) in &r.headers {
        headers.insert(k.as_str().to_string(), Value::String(v.clone()));
    }
    if let Some(ct) = r.content_type {
        headers.insert("content-type".into(), Value::String(ct.into()));
    }
    let mut v = json!({"id": id, "status": r.status.as_u16(), "headers": headers});
    if let Some(b) = r.body_value() {
        v["body"] = b;
    }
    v
}

/// Runs a batch and answers 200 with one sub-response per request (400 if malformed).
pub(crate) fn batch(sim: &Sim, caller: &Caller, ids: &RequestIds, body: &[u8]) -> Resp {
    let reqs = match parse(ids, body) {
        Ok(r) => r,
        Err(e) => return e,
    };
    let mut status: HashMap<String, u16> = HashMap::new();
    let mut results: Vec<Option<Value>> = vec![None; reqs.len()];
    // Run whatever is ready until nothing changes: dependsOn may point forward.
    loop {
        let mut progressed = false;
        for (i, r) in reqs.iter().enumerate() {
            if results[i].is_some() || !r.depends_on.iter().all(|d| status.contains_key(d)) {
                continue;
            }
            progressed = true;
            let failed_dep = r
                .depends_on
                .iter()
                .any(|d| !(200..300).contains(status.get(d).unwrap_or(&0)));
            let inner_ids = RequestIds::new(Some(&ids.client_request_id));
            let resp = if failed_dep {
                http::error(
                    &inner_ids,
                    StatusCode::FAILED_DEPENDENCY,
                    "FailedDependency",
                    "The request could not be processed because a request it depends on failed.",
                )
            } else {
                let (path, query) = r.url.split_once('?').unwrap_or((&r.url, ""));
                // The url is relative to the version: `/users`, not `/v1.0/users`.
                let path = format!("/{}", path.trim_start_matches('/'));
                {
                    let req = Request {
                        method: &r.method,
                        path: &path,
                        query,
                        headers: &r.headers,
                        body: &r.body,
                    };
                    serve_one(sim, caller, &inner_ids, &req)
                }
            };
            status.insert(r.id.clone(), resp.status.as_u16());
            results[i] = Some(sub_response(&r.id, &resp));
        }
        if !progressed {
            break;
        }
    }
    if results.iter().any(Option::is_none) {
        return bad(ids, "The dependsOn references in the batch form a cycle.");
    }
    let body = json!({"responses": results.into_iter().flatten().collect::<Vec<_>>()});
    Resp::value(StatusCode::OK, &body)
}
