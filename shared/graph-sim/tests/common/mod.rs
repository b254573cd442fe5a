//! Helpers shared by the simulator's test binaries: a spawned simulator and a token.

#![allow(dead_code)]

use graph_sim::{SimConfig, SimHandle, TenantInfo};
use serde_json::Value;

pub struct Env {
    pub sim: SimHandle,
    pub http: reqwest::Client,
}

impl Env {
    pub async fn start(config: SimConfig) -> Env {
        let sim = graph_sim::spawn(config).await.expect("simulator starts");
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        Env { sim, http }
    }

    pub fn tenant(&self, i: usize) -> TenantInfo {
        self.sim.tenants()[i].clone()
    }

    /// A token of the tenant's own app (consented with read/write roles).
    pub async fn token(&self, i: usize) -> String {
        let t = self.tenant(i);
        self.token_for(&t.tenant_id, &t.own_app.client_id, &t.own_app.client_secret)
            .await
            .expect("token issued")
    }

    pub async fn token_for(
        &self,
        tenant: &str,
        client_id: &str,
        secret: &str,
    ) -> Result<String, (u16, Value)> {
        let resp = self
            .http
            .post(format!(
                "{}/{tenant}/oauth2/v2.0/token",
                self.sim.login_base_url()
            ))
            .form(&[
                ("client_id", client_id),
                ("client_secret", secret),
                ("grant_type", "client_credentials"),
                ("scope", "https://graph.microsoft.com/.default"),
            ])
            .send()
            .await
            .expect("token request");
        let status = resp.status().as_u16();
        let body: Value = resp.json().await.expect("json body");
        if status == 200 {
            Ok(body["access_token"]
                .as_str()
                .expect("access_token")
                .to_string())
        } else {
            Err((status, body))
        }
    }

    /// GET a Graph path (relative to /v1.0) or an absolute link.
    pub async fn get(&self, token: &str, path_or_url: &str) -> reqwest::Response {
        let url = if path_or_url.starts_with("http") {
            path_or_url.to_string()
        } else {
            format!("{}{path_or_url}", self.sim.graph_base_url())
        };
        self.http
            .get(url)
            .bearer_auth(token)
            .send()
            .await
            .expect("graph request")
    }

    pub async fn get_json(&self, token: &str, path_or_url: &str) -> (u16, Value) {
        let r = self.get(token, path_or_url).await;
        let status = r.status().as_u16();
        let text = r.text().await.expect("body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// Follows `@odata.nextLink` to the end; returns every item and the number of requests.
    pub async fn get_all(&self, token: &str, path: &str) -> (Vec<Value>, usize) {
        let mut items = Vec::new();
        let mut next = Some(path.to_string());
        let mut requests = 0;
        while let Some(link) = next {
            let (status, body) = self.get_json(token, &link).await;
            requests += 1;
            assert_eq!(status, 200, "{link}: {body}");
            items.extend(body["value"].as_array().expect("value").iter().cloned());
            next = body["@odata.nextLink"].as_str().map(String::from);
        }
        (items, requests)
    }
}
