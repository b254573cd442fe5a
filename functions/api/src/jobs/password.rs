//! An onboard job's password at intake: taken out of the body ([`take_password`]), stored in its
//! short-lived secret (and for a generated one its hand-over), handed back once
//! (`GET /tenants/{tenant_id}/jobs/{job_id}/password`), and deleted with a job that goes.

use chrono::Utc;
use http::{HeaderValue, header};
use lifecycle::http::{error_response, json_response, path_param};
use lifecycle::model::{Job, JobKind, PASSWORD_HANDOVER_TTL, PasswordHandover};
use lifecycle::{SecretWrite, VaultError};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Map, Value, json};

use super::{Intake, Refusal, ids, refuse, unavailable};
use crate::answers::PasswordHandedBack;
use aws_lambda_events::apigw::{ApiGatewayV2httpRequest, ApiGatewayV2httpResponse};

/// A password the caller sent or asked for, before it is stored.
pub(super) enum NewPassword {
    Given(SecretString),
    Generate,
}

impl Intake {
    /// Moves the password into the job's short-lived secret; for a generated one also into the
    /// hand-over secret (and records the hand-over), whose name is returned. Only the submission
    /// that created the job record gets here with a new body, and every secret is create-only,
    /// so a password once stored is never replaced.
    pub(super) async fn store_password(
        &self,
        job: &Job,
        password: NewPassword,
    ) -> Result<Option<String>, Refusal> {
        let stored = |error| unavailable("the password could not be stored", error);
        let (tenant_id, job_id) = (&job.tenant_id, &job.job_id);
        let value = match password {
            NewPassword::Given(value) => {
                self.vault
                    .create_onboarding_password(tenant_id, job_id, &value)
                    .await
                    .map_err(stored)?;
                return Ok(None);
            }
            NewPassword::Generate => lifecycle::password::generate(),
        };
        let value = match self
            .vault
            .create_onboarding_password(tenant_id, job_id, &value)
            .await
            .map_err(stored)?
        {
            SecretWrite::Created { .. } => value,
            // An earlier submission of this job stored one: that one is the password.
            SecretWrite::AlreadyExists { .. } => self
                .vault
                .get_onboarding_password(tenant_id, job_id)
                .await
                .map_err(stored)?,
        };
        let handover = self
            .vault
            .create_generated_password(tenant_id, job_id, &value)
            .await
            .map_err(stored)?;
        let record = PasswordHandover {
            tenant_id: tenant_id.clone(),
            job_id: job_id.clone(),
            valid_until: Utc::now() + PASSWORD_HANDOVER_TTL,
        };
        self.store
            .put_new_password_handover(tenant_id, job_id, &record)
            .await
            .map_err(|error| unavailable("the password could not be stored", error))?;
        Ok(Some(handover.name().to_owned()))
    }

    /// Deletes an onboarding's password secrets (`onboarding/{tenant}/{job}/…`) and its
    /// hand-over; nothing for other jobs. Deleting what is already gone is not an error.
    pub(super) async fn forget_passwords(&self, job: &Job) -> Result<(), String> {
        if !matches!(job.kind, JobKind::Onboard(_)) {
            return Ok(());
        }
        let (tenant_id, job_id) = (&job.tenant_id, &job.job_id);
        self.vault
            .delete_onboarding_password(tenant_id, job_id)
            .await
            .map_err(|error| error.to_string())?;
        self.vault
            .delete_secret(&self.vault.generated_password_name(tenant_id, job_id))
            .await
            .map_err(|error| error.to_string())?;
        self.store
            .delete_password_handover(tenant_id, job_id)
            .await
            .map_err(|error| error.to_string())
    }

    /// `GET /tenants/{tenant_id}/jobs/{job_id}/password`: a generated password, once; 404 after,
    /// or once its hand-over has expired. The hand-over item is taken with a conditional delete
    /// first, so of concurrent callers exactly one reads the secret.
    #[tracing::instrument(skip_all, fields(tenant_id = %path_param(request, "tenant_id"), job_id = %path_param(request, "job_id")))]
    pub async fn take_password(
        &self,
        request: &ApiGatewayV2httpRequest,
    ) -> ApiGatewayV2httpResponse {
        let (tenant_id, job_id) = match ids(request) {
            Ok(ids) => ids,
            Err(answer) => return *answer,
        };
        let not_found = || {
            error_response(
                404,
                "password_not_found",
                format!(
                    "job {job_id} has no generated password to hand back (it is handed back once, within {} hours)",
                    PASSWORD_HANDOVER_TTL.num_hours()
                ),
            )
        };
        match self.store.take_password_handover(&tenant_id, &job_id).await {
            Ok(Some(handover)) if handover.valid_until > Utc::now() => {}
            Ok(Some(_)) => {
                // Expired: its secret goes as well, unread.
                let name = self.vault.generated_password_name(&tenant_id, &job_id);
                if let Err(error) = self.vault.delete_secret(&name).await {
                    tracing::error!(%error, "could not delete an expired password hand-over");
                }
                return not_found();
            }
            Ok(None) => return not_found(),
            Err(error) => return *unavailable("the password could not be read", error),
        }
        match self
            .vault
            .take_generated_password(&tenant_id, &job_id)
            .await
        {
            Ok(password) => {
                let mut answer = json_response(
                    200,
                    &PasswordHandedBack {
                        job_id: &job_id,
                        password: password.expose_secret(),
                    },
                );
                answer
                    .headers
                    .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
                answer
            }
            Err(VaultError::NotFound { .. }) => not_found(),
            Err(error) => *unavailable("the password could not be read", error),
        }
    }
}

/// Takes an onboard job's password out of the body, leaving the reference to its secret.
///
/// A dry run that asks for a generated password keeps asking: nothing is generated or stored for
/// a job that creates no account.
pub(super) fn take_password(
    body: &mut Map<String, Value>,
    secret_name: &str,
    dry_run: bool,
) -> Result<Option<NewPassword>, Refusal> {
    if body.get("type").and_then(Value::as_str) != Some("onboard") {
        return Ok(None);
    }
    let Some(password) = body.get_mut("password") else {
        return Err(refuse(
            400,
            "bad_request",
            "an onboard job needs a password: {\"source\":\"value\",\"value\":...} or {\"source\":\"generate\"}",
        ));
    };
    let source = password
        .get("source")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let taken = match source.as_deref() {
        Some("value") => match password.get_mut("value").map(Value::take) {
            Some(Value::String(value)) => NewPassword::Given(SecretString::from(value)),
            _ => {
                *password = Value::Null;
                return Err(refuse(
                    400,
                    "bad_request",
                    "password.value must be a string",
                ));
            }
        },
        Some("generate") if dry_run => return Ok(None),
        Some("generate") => NewPassword::Generate,
        Some("secret") | Some("temporary_access_pass") => return Ok(None),
        _ => {
            *password = Value::Null;
            return Err(refuse(
                400,
                "bad_request",
                "password.source must be \"value\", \"generate\", \"secret\" or \"temporary_access_pass\"",
            ));
        }
    };
    *password = json!({"source": "secret", "secret_id": secret_name});
    Ok(Some(taken))
}
