//! IAM in the emulator: principals with exactly the policy a function has in AWS.
//!
//! moto checks IAM once `INITIAL_NO_AUTH_ACTION_COUNT` requests have gone by (moto's
//! `/moto-api/reset-auth` sets that count on a running server). From then on every request must be
//! signed with the access key of an IAM user moto knows, and the action must be allowed by that
//! user's policies: a missing `dynamodb:Query` fails the way it would in AWS (`AccessDenied`).
//!
//! What moto checks (moto 5.2, `moto/iam/access_control.py`): the action for every service; the
//! resource only for SQS (the queue ARN). For DynamoDB, Secrets Manager and EventBridge moto asks
//! whether the action is allowed on `*`, so a statement naming a table ARN would never match: the
//! policy given to moto keeps each SQS statement's resources and widens the others to `*`
//! ([`moto_policy`]). Actions are therefore enforced everywhere, resources on SQS only.

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use serde_json::{Value, json};

use crate::{LocalAwsError, REGION};

/// Services whose requests moto authorizes against the real resource ARN; for the others it asks
/// about `*`.
const RESOURCE_CHECKED_SERVICES: &[&str] = &["sqs"];

/// The policy document moto is given for `policy` (an IAM policy document with `Statement`):
/// every statement split per action (without its `Sid`), resources kept where moto compares
/// them ([`RESOURCE_CHECKED_SERVICES`]) and `*` elsewhere. Effects and conditions are kept.
pub fn moto_policy(policy: &Value) -> Value {
    let statements: Vec<Value> = match &policy["Statement"] {
        Value::Array(items) => items.clone(),
        Value::Null => Vec::new(),
        single => vec![single.clone()],
    };
    let mut out = Vec::new();
    for statement in statements {
        let actions: Vec<String> = match &statement["Action"] {
            Value::String(action) => vec![action.clone()],
            Value::Array(actions) => actions
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
            _ => Vec::new(),
        };
        // AWS authorizes each Put of a TransactWriteItems as a PutItem; moto authorizes the call by
        // its own name. So wherever PutItem is granted, moto is told TransactWriteItems is too.
        let mut actions = actions;
        if actions
            .iter()
            .any(|a| a.eq_ignore_ascii_case("dynamodb:PutItem"))
        {
            actions.push("dynamodb:TransactWriteItems".to_owned());
        }
        for action in actions {
            let service = action.split(':').next().unwrap_or_default();
            let mut rewritten = statement.clone();
            // A split statement would repeat its Sid, which IAM refuses (Sids are unique).
            if let Some(fields) = rewritten.as_object_mut() {
                fields.remove("Sid");
            }
            rewritten["Action"] = json!([action]);
            if !RESOURCE_CHECKED_SERVICES.contains(&service) {
                rewritten["Resource"] = json!("*");
            }
            out.push(rewritten);
        }
    }
    json!({"Version": "2012-10-17", "Statement": out})
}

/// A minimal, signed client of moto's IAM Query API (only what local principals need).
pub(crate) struct IamClient<'a> {
    pub endpoint: &'a str,
    pub credentials: &'a Credentials,
}

impl IamClient<'_> {
    /// Calls one IAM action with form parameters; the XML answer on success.
    pub async fn call(
        &self,
        action: &str,
        params: &[(&str, &str)],
    ) -> Result<String, LocalAwsError> {
        let mut pairs = vec![("Action", action), ("Version", "2010-05-08")];
        pairs.extend_from_slice(params);
        let body = pairs
            .iter()
            .map(|(name, value)| format!("{}={}", form_encode(name), form_encode(value)))
            .collect::<Vec<_>>()
            .join("&");
        let url = format!("{}/", self.endpoint.trim_end_matches('/'));
        let content_type = "application/x-www-form-urlencoded; charset=utf-8";

        let identity = Identity::from(self.credentials.clone());
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(REGION)
            .name("iam")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()
            .map_err(|e| iam_error(action, e.to_string()))?
            .into();
        let signable = SignableRequest::new(
            "POST",
            &url,
            [("content-type", content_type)].into_iter(),
            SignableBody::Bytes(body.as_bytes()),
        )
        .map_err(|e| iam_error(action, e.to_string()))?;
        let (instructions, _signature) = sign(signable, &params)
            .map_err(|e| iam_error(action, e.to_string()))?
            .into_parts();

        let mut request = reqwest::Client::new()
            .post(&url)
            .header("content-type", content_type);
        for (name, value) in instructions.headers() {
            request = request.header(name, value);
        }
        let response = request
            .body(body)
            .send()
            .await
            .map_err(|e| iam_error(action, e.to_string()))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| iam_error(action, e.to_string()))?;
        if !status.is_success() {
            return Err(iam_error(action, format!("HTTP {status}: {text}")));
        }
        Ok(text)
    }

    /// Creates the user (kept when it exists), sets its one inline policy (none when `policy` has
    /// no statement) and returns a new access key of it.
    pub async fn principal(
        &self,
        user: &str,
        policy: &Value,
    ) -> Result<Credentials, LocalAwsError> {
        if let Err(error) = self.call("CreateUser", &[("UserName", user)]).await
            && !error.to_string().contains("EntityAlreadyExists")
        {
            return Err(error);
        }
        // No statement: no policy at all (IAM refuses an empty one), so every action is denied.
        let empty = policy["Statement"].as_array().is_none_or(Vec::is_empty);
        if !empty {
            let document = policy.to_string();
            self.call(
                "PutUserPolicy",
                &[
                    ("UserName", user),
                    ("PolicyName", "policy"),
                    ("PolicyDocument", &document),
                ],
            )
            .await?;
        }
        let answer = self.call("CreateAccessKey", &[("UserName", user)]).await?;
        let key_id = xml_text(&answer, "AccessKeyId")
            .ok_or_else(|| iam_error("CreateAccessKey", "no AccessKeyId in the answer".into()))?;
        let secret = xml_text(&answer, "SecretAccessKey").ok_or_else(|| {
            iam_error("CreateAccessKey", "no SecretAccessKey in the answer".into())
        })?;
        Ok(Credentials::new(
            key_id,
            secret,
            None,
            None,
            "local-aws-iam",
        ))
    }
}

fn iam_error(action: &str, detail: String) -> LocalAwsError {
    LocalAwsError::Iam {
        action: action.to_owned(),
        detail,
    }
}

/// Form-encodes as Python's `urlencode` does (moto re-encodes the parsed form with it to check
/// the signature): letters, digits and `_.-~` kept, space as `+`, every other byte `%XX`.
fn form_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.' | b'-' | b'~' => {
                out.push(char::from(byte));
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// The text of the first `<tag>…</tag>` (IAM answers are small, flat XML).
fn xml_text(xml: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = start + xml[start..].find(&close)?;
    Some(xml[start..end].to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_a_statement_granting_put_item_when_rewritten_for_moto_then_transactions_of_puts_are_allowed_too()
     {
        // GIVEN a statement granting PutItem, and one granting only GetItem
        let policy = json!({"Statement": [
            {"Effect": "Allow", "Action": ["dynamodb:PutItem"], "Resource": "*"},
            {"Effect": "Allow", "Action": "dynamodb:GetItem", "Resource": "*"}
        ]});
        // WHEN rewritten for moto
        let rewritten = moto_policy(&policy);
        // THEN moto is told TransactWriteItems (AWS authorizes its Puts as PutItem), only there
        let actions: Vec<Value> = rewritten["Statement"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|statement| statement["Action"][0].clone())
            .collect();
        assert_eq!(
            actions,
            vec![
                json!("dynamodb:PutItem"),
                json!("dynamodb:TransactWriteItems"),
                json!("dynamodb:GetItem")
            ]
        );
    }

    #[test]
    fn given_a_template_statement_when_rewritten_for_moto_then_sqs_keeps_its_queue_and_dynamodb_is_widened()
     {
        // GIVEN a statement with a DynamoDB and an SQS action on specific resources
        let policy = json!({"Statement": [
            {"Effect": "Allow", "Action": ["dynamodb:GetItem", "sqs:SendMessage"],
             "Resource": ["arn:aws:dynamodb:us-east-1:123456789012:table/t",
                          "arn:aws:sqs:us-east-1:123456789012:q"]}
        ]});

        // WHEN it is rewritten for moto
        let rewritten = moto_policy(&policy);

        // THEN each action has its own statement; SQS keeps its resources, DynamoDB gets `*`
        let statements = rewritten["Statement"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert_eq!(statements.len(), 2);
        assert_eq!(statements[0]["Action"], json!(["dynamodb:GetItem"]));
        assert_eq!(statements[0]["Resource"], json!("*"));
        assert_eq!(statements[1]["Action"], json!(["sqs:SendMessage"]));
        assert_eq!(
            statements[1]["Resource"],
            policy["Statement"][0]["Resource"]
        );
    }
}
