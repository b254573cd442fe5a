//! The admin consent page (GET/POST /{tenant}/v2.0/adminconsent).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::state::Sim;

pub(crate) async fn page(State(_sim): State<Arc<Sim>>, Path(_tenant): Path<String>) -> Response {
    StatusCode::NOT_IMPLEMENTED.into_response()
}
