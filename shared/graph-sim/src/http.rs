//! A transport-neutral response (so `$batch` can run the same handlers as plain requests) and
//! Graph's error envelope.

use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// A response of one Graph request.
pub(crate) struct Resp {
    pub status: StatusCode,
    pub headers: Vec<(HeaderName, String)>,
    pub body: Vec<u8>,
    pub content_type: Option<&'static str>,
}

impl Resp {
    pub fn json(status: StatusCode, body: Vec<u8>) -> Resp {
        Resp {
            status,
            headers: Vec::new(),
            body,
            content_type: Some(
                "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8",
            ),
        }
    }

    pub fn value(status: StatusCode, v: &serde_json::Value) -> Resp {
        Resp::json(status, serde_json::to_vec(v).unwrap_or_default())
    }

    pub fn empty(status: StatusCode) -> Resp {
        Resp {
            status,
            headers: Vec::new(),
            body: Vec::new(),
            content_type: None,
        }
    }

    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Resp {
        self.headers
            .push((HeaderName::from_static(name), value.into()));
        self
    }

    /// The body as JSON for a `$batch` sub-response (text bodies become strings).
    pub fn body_value(&self) -> Option<serde_json::Value> {
        if self.body.is_empty() {
            return None;
        }
        match serde_json::from_slice(&self.body) {
            Ok(v) => Some(v),
            Err(_) => Some(serde_json::Value::String(
                String::from_utf8_lossy(&self.body).into_owned(),
            )),
        }
    }

    pub fn into_http(self, request_id: &str, client_request_id: &str) -> Response {
        let mut headers = HeaderMap::new();
        for (k, v) in self.headers {
            if let Ok(v) = HeaderValue::from_str(&v) {
                headers.append(k, v);
            }
        }
        if let Some(ct) = self.content_type {
            headers.insert("content-type", HeaderValue::from_static(ct));
        }
        if let Ok(v) = HeaderValue::from_str(request_id) {
            headers.insert("request-id", v);
        }
        if let Ok(v) = HeaderValue::from_str(client_request_id) {
            headers.insert("client-request-id", v);
        }
        (self.status, headers, self.body).into_response()
    }
}

/// Ids that tie a response to a request, echoed in headers and in `innerError`.
#[derive(Clone)]
pub(crate) struct RequestIds {
    pub request_id: String,
    pub client_request_id: String,
}

impl RequestIds {
    pub fn new(client: Option<&str>) -> RequestIds {
        let request_id = uuid::Uuid::new_v4().to_string();
        let client_request_id = client
            .filter(|c| !c.is_empty() && c.len() <= 100)
            .map(str::to_string)
            .unwrap_or_else(|| request_id.clone());
        RequestIds {
            request_id,
            client_request_id,
        }
    }
}

/// Graph's error envelope `{error:{code,message,innerError:{date,request-id,client-request-id}}}`.
pub(crate) fn error(ids: &RequestIds, status: StatusCode, code: &str, message: &str) -> Resp {
    let date = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S").to_string();
    let v = serde_json::json!({
        "error": {
            "code": code,
            "message": message,
            "innerError": {
                "date": date,
                "request-id": ids.request_id,
                "client-request-id": ids.client_request_id,
            }
        }
    });
    Resp::value(status, &v)
}

pub(crate) fn not_found(ids: &RequestIds, what: &str) -> Resp {
    error(
        ids,
        StatusCode::NOT_FOUND,
        "Request_ResourceNotFound",
        &format!(
            "Resource '{what}' does not exist or one of its queried reference-property objects are not present."
        ),
    )
}

pub(crate) fn bad_request(ids: &RequestIds, message: &str) -> Resp {
    error(ids, StatusCode::BAD_REQUEST, "Request_BadRequest", message)
}

pub(crate) fn denied(ids: &RequestIds) -> Resp {
    error(
        ids,
        StatusCode::FORBIDDEN,
        "Authorization_RequestDenied",
        "Insufficient privileges to complete the operation.",
    )
}

/// Formats seconds the way `Retry-After` carries them: whole seconds when whole.
pub(crate) fn retry_after(secs: f64) -> String {
    if secs.fract() == 0.0 {
        format!("{}", secs as u64)
    } else {
        format!("{secs:.3}")
    }
}
