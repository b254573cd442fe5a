//! The Secrets Manager adapter: customers' app credentials, short-lived onboarding passwords, and
//! the platform's own secrets.
//!
//! Names (under the configured `SECRET_PREFIX`):
//! - `{prefix}tenants/{tenant}/app-credential`: JSON `{"client_id": .., "client_secret": ..}`;
//! - `{prefix}onboarding/{tenant}/{job}/password`: the initial password of one onboarding,
//!   deleted once the account exists or the job fails for good;
//! - `{prefix}onboarding/{tenant}/{job}/generated-password`: a generated password waiting to be
//!   handed back to the caller once.
//!
//! A job is (tenant, job id): the same job id in two tenants names two different secrets, so one
//! organization can neither read nor overwrite the password of another's job. Password secrets are
//! created, never overwritten ([`Vault::create_onboarding_password`]): a second writer is refused.
//!
//! Values come back as [`SecretString`], whose `Debug` prints `[REDACTED]`; error messages name
//! the secret, never its value. Deletes skip the recovery window (`ForceDeleteWithoutRecovery`):
//! a password must not linger, and a removed tenant may reconnect at once under the same name.

use aws_sdk_secretsmanager::Client;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use thiserror::Error;

use crate::config::Config;
use crate::ids::{JobId, TenantId};
use crate::sdk_error::{AwsFailure, BoxError, classify};

/// What went wrong with Secrets Manager.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum VaultError {
    /// No such secret, or it was deleted.
    #[error("secret {secret_id} not found (missing or deleted)")]
    NotFound { secret_id: String },
    /// The secret's value is not what this bundle writes (e.g. not the credential JSON).
    #[error("secret {secret_id} does not hold {expected}")]
    Malformed {
        secret_id: String,
        expected: &'static str,
    },
    /// Secrets Manager refused or could not be reached.
    #[error("Secrets Manager {operation} on {secret_id} failed ({}): {message}", code.as_deref().unwrap_or("no error code"))]
    Aws {
        operation: &'static str,
        secret_id: String,
        code: Option<String>,
        message: String,
        retryable: bool,
        #[source]
        source: BoxError,
    },
}

impl VaultError {
    fn aws(operation: &'static str, secret_id: &str, failure: AwsFailure) -> Self {
        let not_found = failure.code.as_deref() == Some("ResourceNotFoundException")
            // A secret scheduled for deletion answers InvalidRequestException.
            || (failure.code.as_deref() == Some("InvalidRequestException")
                && failure.message.contains("deletion"));
        if not_found {
            return Self::NotFound {
                secret_id: secret_id.to_owned(),
            };
        }
        Self::Aws {
            operation,
            secret_id: secret_id.to_owned(),
            code: failure.code,
            message: failure.message,
            retryable: failure.retryable,
            source: failure.source,
        }
    }

    /// Whether trying again later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Self::Aws {
                retryable: true,
                ..
            }
        )
    }
}

/// A customer's own app registration: client id and secret.
#[derive(Debug, Deserialize)]
pub struct AppCredential {
    pub client_id: String,
    pub client_secret: SecretString,
}

/// Outcome of a create-only secret write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretWrite {
    /// The secret was created with the value given.
    Created { name: String },
    /// A secret of that name exists; its value was left as it was.
    AlreadyExists { name: String },
}

impl SecretWrite {
    /// The secret's name.
    pub fn name(&self) -> &str {
        match self {
            Self::Created { name } | Self::AlreadyExists { name } => name,
        }
    }
}

/// The Secrets Manager adapter; cheap to clone.
#[derive(Debug, Clone)]
pub struct Vault {
    client: Client,
    prefix: String,
}

impl Vault {
    /// An adapter writing under `prefix` (e.g. `m365-lifecycle/`).
    pub fn new(client: Client, prefix: impl Into<String>) -> Self {
        Self {
            client,
            prefix: prefix.into(),
        }
    }

    /// An adapter writing under the configured `SECRET_PREFIX`.
    pub fn from_config(client: Client, config: &Config) -> Self {
        Self::new(client, config.secret_prefix.clone())
    }

    /// The name of a tenant's app-credential secret.
    pub fn app_credential_name(&self, tenant: &TenantId) -> String {
        format!("{}tenants/{tenant}/app-credential", self.prefix)
    }

    /// The name of an onboarding's password secret: the reference a job carries, and the only
    /// password secret the worker of job (`tenant`, `job`) reads.
    pub fn onboarding_password_name(&self, tenant: &TenantId, job: &JobId) -> String {
        format!("{}onboarding/{tenant}/{job}/password", self.prefix)
    }

    /// Stores (or replaces) a tenant's app credential.
    pub async fn put_app_credential(
        &self,
        tenant: &TenantId,
        credential: &AppCredential,
    ) -> Result<(), VaultError> {
        let value = SecretString::from(
            serde_json::json!({
                "client_id": credential.client_id,
                "client_secret": credential.client_secret.expose_secret(),
            })
            .to_string(),
        );
        self.put(&self.app_credential_name(tenant), &value).await
    }

    /// Reads a tenant's app credential.
    pub async fn get_app_credential(&self, tenant: &TenantId) -> Result<AppCredential, VaultError> {
        let name = self.app_credential_name(tenant);
        let value = self.get_secret(&name).await?;
        serde_json::from_str(value.expose_secret()).map_err(|_| VaultError::Malformed {
            secret_id: name,
            expected: "a JSON object with client_id and client_secret",
        })
    }

    /// Deletes a tenant's app credential at once; a missing one is not an error.
    pub async fn delete_app_credential(&self, tenant: &TenantId) -> Result<(), VaultError> {
        self.delete(&self.app_credential_name(tenant)).await
    }

    /// Creates an onboarding's password secret; returns its name, the reference to put in the
    /// job. Create-only: when the secret exists already (another submission of the same job won
    /// the race, or an earlier delivery stored it) nothing is written and
    /// [`SecretWrite::AlreadyExists`] says so.
    pub async fn create_onboarding_password(
        &self,
        tenant: &TenantId,
        job: &JobId,
        password: &SecretString,
    ) -> Result<SecretWrite, VaultError> {
        self.create(&self.onboarding_password_name(tenant, job), password)
            .await
    }

    /// Reads an onboarding's password.
    pub async fn get_onboarding_password(
        &self,
        tenant: &TenantId,
        job: &JobId,
    ) -> Result<SecretString, VaultError> {
        self.get_secret(&self.onboarding_password_name(tenant, job))
            .await
    }

    /// Deletes an onboarding's password at once; a missing one is not an error.
    pub async fn delete_onboarding_password(
        &self,
        tenant: &TenantId,
        job: &JobId,
    ) -> Result<(), VaultError> {
        self.delete(&self.onboarding_password_name(tenant, job))
            .await
    }

    /// Whether `secret_id` is the password secret of job (`tenant`, `job`): the only password
    /// secret that job may reference. Any other name, even another onboarding secret of this
    /// bundle, could be another tenant's or organization's password.
    pub fn is_password_of(&self, tenant: &TenantId, job: &JobId, secret_id: &str) -> bool {
        secret_id == self.onboarding_password_name(tenant, job)
    }

    /// The name of the secret that hands a generated password back to the caller, once.
    pub fn generated_password_name(&self, tenant: &TenantId, job: &JobId) -> String {
        format!(
            "{}onboarding/{tenant}/{job}/generated-password",
            self.prefix
        )
    }

    /// Creates the secret a generated password is handed back from (create-only, like
    /// [`Self::create_onboarding_password`]).
    pub async fn create_generated_password(
        &self,
        tenant: &TenantId,
        job: &JobId,
        password: &SecretString,
    ) -> Result<SecretWrite, VaultError> {
        self.create(&self.generated_password_name(tenant, job), password)
            .await
    }

    /// Reads a generated password and deletes its secret. Only the caller that has taken the
    /// job's hand-over (an atomic, single-use DynamoDB item) calls this, so it runs once.
    pub async fn take_generated_password(
        &self,
        tenant: &TenantId,
        job: &JobId,
    ) -> Result<SecretString, VaultError> {
        let name = self.generated_password_name(tenant, job);
        let password = self.get_secret(&name).await?;
        self.delete(&name).await?;
        Ok(password)
    }

    /// The name prefix of every onboarding secret of `tenant` (`{prefix}onboarding/{tenant}/`).
    pub fn onboarding_secrets_prefix(&self, tenant: &TenantId) -> String {
        format!("{}onboarding/{tenant}/", self.prefix)
    }

    /// Deletes every onboarding secret of `tenant` (initial and generated passwords of all its
    /// jobs), found with ListSecrets' name-prefix filter; returns their names. Used by a tenant's
    /// removal: a parked job's password, or a generated one never taken, must not outlive it.
    /// Each name is checked against the prefix again here (the filter is Secrets Manager's), so
    /// another tenant's secret is never touched.
    pub async fn delete_onboarding_secrets(
        &self,
        tenant: &TenantId,
    ) -> Result<Vec<String>, VaultError> {
        let names: Vec<String> = self
            .list_named(&self.onboarding_secrets_prefix(tenant))
            .await?
            .into_iter()
            .map(|(name, _)| name)
            .collect();
        for name in &names {
            self.delete(name).await?;
        }
        Ok(names)
    }

    /// Deletes every generated-password hand-over secret (`{prefix}onboarding/*/*/generated-password`)
    /// created before `created_before` and returns the (tenant, job) of each. A hand-over nobody
    /// took is refused after [`PASSWORD_HANDOVER_TTL`](crate::model::PASSWORD_HANDOVER_TTL) and its
    /// DynamoDB item expires by TTL, but Secrets Manager keeps a secret until it is deleted: the
    /// onboarding function's schedule calls this with `now - PASSWORD_HANDOVER_TTL`, so a password
    /// never outlives its hand-over by more than one tick.
    pub async fn delete_generated_passwords_created_before(
        &self,
        created_before: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<(TenantId, JobId)>, VaultError> {
        let prefix = format!("{}onboarding/", self.prefix);
        let cutoff = created_before.timestamp();
        let mut deleted = Vec::new();
        for (name, created) in self.list_named(&prefix).await? {
            let Some(ids) = name
                .strip_prefix(&prefix)
                .and_then(|rest| rest.strip_suffix("/generated-password"))
                .and_then(|rest| rest.split_once('/'))
                .and_then(|(tenant, job)| {
                    Some((TenantId::parse(tenant).ok()?, JobId::parse(job).ok()?))
                })
            else {
                continue;
            };
            // No creation date is treated as old: such a secret is not kept forever either.
            if created.is_some_and(|created| created >= cutoff) {
                continue;
            }
            self.delete(&name).await?;
            deleted.push(ids);
        }
        Ok(deleted)
    }

    /// Every secret whose name starts with `prefix` (ListSecrets' name filter, checked again here
    /// since the filter is Secrets Manager's), with its creation time in epoch seconds.
    async fn list_named(&self, prefix: &str) -> Result<Vec<(String, Option<i64>)>, VaultError> {
        let filter = aws_sdk_secretsmanager::types::Filter::builder()
            .key(aws_sdk_secretsmanager::types::FilterNameStringType::Name)
            .values(prefix)
            .build();
        let mut pages = self
            .client
            .list_secrets()
            .filters(filter)
            .into_paginator()
            .send();
        let mut found = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|err| VaultError::aws("ListSecrets", prefix, classify(err)))?;
            found.extend(
                page.secret_list
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|entry| {
                        let created = entry.created_date.map(|date| date.secs());
                        entry.name.map(|name| (name, created))
                    })
                    .filter(|(name, _)| name.starts_with(prefix)),
            );
        }
        Ok(found)
    }

    /// Deletes a secret by name or ARN at once (an onboarding password a job referenced); a
    /// missing one is not an error.
    pub async fn delete_secret(&self, secret_id: &str) -> Result<(), VaultError> {
        self.delete(secret_id).await
    }

    /// The platform app's client secret, by its secret id (`PLATFORM_APP_SECRET_ID`).
    pub async fn get_platform_app_secret(
        &self,
        secret_id: &str,
    ) -> Result<SecretString, VaultError> {
        self.get_secret(secret_id).await
    }

    /// The key that signs OAuth `state`, by its secret id (`STATE_SIGNING_KEY_SECRET_ID`).
    pub async fn get_state_signing_key(&self, secret_id: &str) -> Result<SecretString, VaultError> {
        self.get_secret(secret_id).await
    }

    /// Any secret's string value, by name or ARN (e.g. the `secret_id` a job references).
    pub async fn get_secret(&self, secret_id: &str) -> Result<SecretString, VaultError> {
        let output = self
            .client
            .get_secret_value()
            .secret_id(secret_id)
            .send()
            .await
            .map_err(|err| VaultError::aws("GetSecretValue", secret_id, classify(err)))?;
        output
            .secret_string
            .map(SecretString::from)
            .ok_or_else(|| VaultError::Malformed {
                secret_id: secret_id.to_owned(),
                expected: "a string value",
            })
    }

    /// Creates the secret, or puts a new value if it exists.
    async fn put(&self, name: &str, value: &SecretString) -> Result<(), VaultError> {
        let created = self
            .client
            .create_secret()
            .name(name)
            .secret_string(value.expose_secret())
            .send()
            .await;
        match created {
            Ok(_) => Ok(()),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_exists_exception()) =>
            {
                self.client
                    .put_secret_value()
                    .secret_id(name)
                    .secret_string(value.expose_secret())
                    .send()
                    .await
                    .map_err(|err| VaultError::aws("PutSecretValue", name, classify(err)))?;
                Ok(())
            }
            Err(err) => Err(VaultError::aws("CreateSecret", name, classify(err))),
        }
    }

    /// Creates the secret; never replaces an existing one.
    async fn create(&self, name: &str, value: &SecretString) -> Result<SecretWrite, VaultError> {
        let created = self
            .client
            .create_secret()
            .name(name)
            .secret_string(value.expose_secret())
            .send()
            .await;
        match created {
            Ok(_) => Ok(SecretWrite::Created {
                name: name.to_owned(),
            }),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_resource_exists_exception()) =>
            {
                Ok(SecretWrite::AlreadyExists {
                    name: name.to_owned(),
                })
            }
            Err(err) => Err(VaultError::aws("CreateSecret", name, classify(err))),
        }
    }

    async fn delete(&self, name: &str) -> Result<(), VaultError> {
        let result = self
            .client
            .delete_secret()
            .secret_id(name)
            .force_delete_without_recovery(true)
            .send()
            .await
            .map_err(|err| VaultError::aws("DeleteSecret", name, classify(err)));
        match result {
            Ok(_) | Err(VaultError::NotFound { .. }) => Ok(()),
            Err(err) => Err(err),
        }
    }
}
