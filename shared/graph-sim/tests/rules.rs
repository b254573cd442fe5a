//! Contract tests: the simulator refuses what Microsoft Graph refuses. Each test names the rule
//! and where it is documented:
//! - [user] https://learn.microsoft.com/graph/api/resources/user ("Properties": maximum lengths,
//!   userPrincipalName characters, businessPhones holds one number);
//! - [create] https://learn.microsoft.com/graph/api/user-post-users (required properties);
//! - [passwords] https://learn.microsoft.com/entra/identity/authentication/concept-password-policies
//!   (password rules, username policy: UPN 113 characters, 64 before the `@`, 48 after);
//! - [group] https://learn.microsoft.com/graph/api/resources/group (mailNickname characters);
//! - [list] https://learn.microsoft.com/graph/api/user-list (`$skip` not supported, properties
//!   only read on a single user answer 501 on a list, signInActivity pages hold at most 120);
//! - [paging] https://learn.microsoft.com/graph/paging and shared/reference/graph/graph-facts.md
//!   "Paging, delta, batching" (`$top` 1-999 on directory collections, none on delta);
//! - [advanced] https://learn.microsoft.com/graph/aad-advanced-queries (`$count`, `$search` and
//!   `ne` need `ConsistencyLevel: eventual`, `ne` also `$count=true`).

mod common;

use common::Env;
use graph_sim::SimConfig;
use reqwest::Method;
use serde_json::{Value, json};

async fn send(env: &Env, token: &str, method: Method, path: &str, body: Value) -> (u16, Value) {
    let resp = env
        .http
        .request(method, format!("{}{path}", env.sim.graph_base_url()))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("request");
    let status = resp.status().as_u16();
    let text = resp.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn get_with(env: &Env, token: &str, path: &str, headers: &[(&str, &str)]) -> (u16, Value) {
    let mut req = env
        .http
        .get(format!("{}{path}", env.sim.graph_base_url()))
        .bearer_auth(token);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    let text = resp.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn new_user(upn: &str) -> Value {
    json!({
        "accountEnabled": true,
        "displayName": "Nova Quinn",
        "mailNickname": "nova.quinn",
        "userPrincipalName": upn,
        "passwordProfile": {"password": "Xy7!kLm9#pQ", "forceChangePasswordNextSignIn": true},
    })
}

fn with(mut user: Value, prop: &str, value: Value) -> Value {
    user[prop] = value;
    user
}

/// A 400 whose message names the property as Graph words it.
fn names_property(status: u16, body: &Value, prop: &str) {
    assert_eq!(status, 400, "{prop}: {body}");
    assert_eq!(
        body["error"]["code"], "Request_BadRequest",
        "{prop}: {body}"
    );
    assert_eq!(
        body["error"]["message"],
        format!("Invalid value specified for property '{prop}' of resource 'User'."),
        "{prop}"
    );
}

#[tokio::test]
async fn given_each_string_property_one_over_its_documented_length_when_a_user_is_created_then_400_naming_it()
 {
    // GIVEN the user resource's maximum lengths [user]
    let env = Env::start(SimConfig::single(5, 1)).await;
    let token = env.token(0).await;
    let domain = env.tenant(0).default_domain;
    let limits = [
        ("displayName", 256),
        ("givenName", 64),
        ("surname", 64),
        ("mailNickname", 64),
        ("jobTitle", 128),
        ("department", 64),
        ("mobilePhone", 64),
        ("country", 128),
    ];
    for (prop, max) in limits {
        // WHEN a property is one character over its limit
        let over = with(
            new_user(&format!("over@{domain}")),
            prop,
            json!("a".repeat(max + 1)),
        );
        let (status, body) = send(&env, &token, Method::POST, "/users", over).await;
        // THEN 400 naming it (with a details entry targeting it), and nobody is created
        names_property(status, &body, prop);
        assert_eq!(body["error"]["details"][0]["target"], prop);
    }
    // AND every property at its limit at once is accepted
    let mut at_limit = new_user(&format!("limits@{domain}"));
    for (prop, max) in limits {
        at_limit[prop] = json!("é".repeat(max));
    }
    at_limit["mailNickname"] = json!("n".repeat(64));
    let (status, body) = send(&env, &token, Method::POST, "/users", at_limit).await;
    assert_eq!(status, 201, "{body}");
    let users = env
        .sim
        .truth(&env.tenant(0).tenant_id)
        .expect("truth")
        .users;
    assert!(
        !users
            .iter()
            .any(|u| u.user_principal_name.starts_with("over@"))
    );
}

#[tokio::test]
async fn given_required_properties_missing_or_of_the_wrong_type_when_a_user_is_created_then_400() {
    // GIVEN the properties POST /users requires [create] and the types the CSDL gives them
    let env = Env::start(SimConfig::single(5, 1)).await;
    let token = env.token(0).await;
    let domain = env.tenant(0).default_domain;
    for prop in [
        "accountEnabled",
        "displayName",
        "mailNickname",
        "userPrincipalName",
        "passwordProfile",
    ] {
        // WHEN one is missing
        let mut user = new_user(&format!("req@{domain}"));
        user.as_object_mut().expect("object").remove(prop);
        let (status, body) = send(&env, &token, Method::POST, "/users", user).await;
        // THEN 400 naming it
        names_property(status, &body, prop);
    }
    for (prop, value) in [
        ("accountEnabled", json!("yes")),
        ("displayName", json!(42)),
        ("displayName", json!("")),
        ("givenName", json!(["Nova"])),
        ("userPrincipalName", json!(7)),
        ("passwordProfile", json!("Xy7!kLm9#pQ")),
    ] {
        // WHEN one has the wrong type (or a required name is empty)
        let user = with(new_user(&format!("type@{domain}")), prop, value);
        let (status, body) = send(&env, &token, Method::POST, "/users", user).await;
        // THEN 400 naming it
        names_property(status, &body, prop);
    }
}

#[tokio::test]
async fn given_user_principal_names_outside_the_username_policy_when_a_user_is_created_then_400() {
    // GIVEN the username policy: 64 characters before the `@`, allowed characters
    // A-Z a-z 0-9 ' . - _ ! # ^ ~, no `.` right before the `@` [passwords] [user]
    let env = Env::start(SimConfig::single(5, 1)).await;
    let token = env.token(0).await;
    let domain = env.tenant(0).default_domain;
    for local in [
        "a".repeat(65),
        "nova quinn".to_string(),
        "nová".to_string(),
        "nova,quinn".to_string(),
        "nova(q)".to_string(),
        "nova.".to_string(),
        "nova@quinn".to_string(),
    ] {
        // WHEN such a UPN is used
        let user = new_user(&format!("{local}@{domain}"));
        let (status, body) = send(&env, &token, Method::POST, "/users", user).await;
        // THEN 400 naming userPrincipalName
        names_property(status, &body, "userPrincipalName");
    }
    // AND the allowed characters and a 64-character local part are accepted
    for local in ["o'neil.n-q_x!#^~".to_string(), "b".repeat(64)] {
        let user = with(
            new_user(&format!("{local}@{domain}")),
            "mailNickname",
            json!(format!("n{}", local.len())),
        );
        let (status, body) = send(&env, &token, Method::POST, "/users", user).await;
        assert_eq!(status, 201, "{local}: {body}");
    }
}

#[tokio::test]
async fn given_mail_nicknames_with_forbidden_characters_when_a_user_is_created_then_400() {
    // GIVEN mailNickname's character set: ASCII except @ ( ) \ [ ] " ; : < > , and space [group]
    let env = Env::start(SimConfig::single(5, 1)).await;
    let token = env.token(0).await;
    let domain = env.tenant(0).default_domain;
    for nick in [
        "nova quinn",
        "nova@quinn",
        "nova(q)",
        "nova\\q",
        "nova[q]",
        "nova\"q",
        "nova;q",
        "nova:q",
        "nova<q>",
        "nova,q",
        "nová",
    ] {
        // WHEN it is used
        let user = with(
            new_user(&format!("nick@{domain}")),
            "mailNickname",
            json!(nick),
        );
        let (status, body) = send(&env, &token, Method::POST, "/users", user).await;
        // THEN 400 naming mailNickname
        names_property(status, &body, "mailNickname");
    }
}

#[tokio::test]
async fn given_passwords_outside_the_entra_policy_when_a_user_is_created_then_400_weak_password() {
    // GIVEN the cloud password policy: 8-256 characters, no Unicode, three of four classes
    // [passwords]
    let env = Env::start(SimConfig::single(5, 1)).await;
    let token = env.token(0).await;
    let domain = env.tenant(0).default_domain;
    for password in [
        "Xy7!kLm".to_string(),
        format!("Xy7!{}", "k".repeat(253)),
        "Xy7!kLm9#pQé".to_string(),
        "alllowercase1".to_string(),
    ] {
        // WHEN such a password is given
        let mut user = new_user(&format!("pw@{domain}"));
        user["passwordProfile"]["password"] = json!(password);
        let (status, body) = send(&env, &token, Method::POST, "/users", user).await;
        // THEN 400 with Graph's password complexity message
        assert_eq!(status, 400, "{password}: {body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .expect("message")
                .starts_with("The specified password does not comply with password complexity"),
            "{body}"
        );
    }
    // AND 256 characters with blank space and symbols is accepted
    let mut user = new_user(&format!("pw@{domain}"));
    user["passwordProfile"]["password"] = json!(format!("Xy7 !{}", "k".repeat(251)));
    let (status, body) = send(&env, &token, Method::POST, "/users", user).await;
    assert_eq!(status, 201, "{body}");
}

#[tokio::test]
async fn given_an_existing_user_when_patched_with_values_graph_refuses_then_400_and_the_user_is_unchanged()
 {
    // GIVEN an account [user]: displayName "can't be cleared during updates", businessPhones
    // "only one number can be set", jobTitle at most 128 characters
    let env = Env::start(SimConfig::single(5, 1)).await;
    let token = env.token(0).await;
    let tid = env.tenant(0).tenant_id;
    let cloud = |t: graph_sim::Truth| {
        t.users
            .into_iter()
            .find(|u| !u.on_premises_sync_enabled && u.user_type == "Member")
            .expect("a cloud member account")
    };
    let before = cloud(env.sim.truth(&tid).expect("truth"));
    let path = format!("/users/{}", before.id);
    for (prop, value) in [
        ("displayName", json!(null)),
        ("displayName", json!("d".repeat(257))),
        (
            "businessPhones",
            json!(["+1 425 555 0100", "+1 425 555 0101"]),
        ),
        ("jobTitle", json!("j".repeat(129))),
    ] {
        // WHEN such a PATCH is sent (with a valid change beside it)
        let patch = json!({"department": "Finance", prop: value});
        let (status, body) = send(&env, &token, Method::PATCH, &path, patch).await;
        // THEN 400 naming the property, and nothing changed
        names_property(status, &body, prop);
    }
    let after = cloud(env.sim.truth(&tid).expect("truth"));
    assert_eq!(before, after);
}

#[tokio::test]
async fn given_top_values_outside_1_to_999_when_directory_collections_are_listed_then_400() {
    // GIVEN the directory collections and their $top range [paging]
    let env = Env::start(SimConfig::single(10, 2)).await;
    let token = env.token(0).await;
    let truth = env.sim.truth(&env.tenant(0).tenant_id).expect("truth");
    let (user, group) = (&truth.users[0].id, &truth.groups[0].id);
    let lists = [
        "/users".to_string(),
        "/groups".to_string(),
        format!("/groups/{group}/members"),
        format!("/users/{user}/memberOf"),
        "/directory/deletedItems/microsoft.graph.user".to_string(),
    ];
    for list in &lists {
        for top in ["0", "1000", "-1", "ten"] {
            // WHEN $top is out of range
            let (status, body) = get_with(&env, &token, &format!("{list}?$top={top}"), &[]).await;
            // THEN 400
            assert_eq!(status, 400, "{list} $top={top}: {body}");
        }
        // AND 999 is accepted
        let (status, body) = get_with(&env, &token, &format!("{list}?$top=999"), &[]).await;
        assert_eq!(status, 200, "{list}: {body}");
    }
    // AND delta takes no $top (page size comes from Prefer: odata.maxpagesize)
    for delta in ["/users/delta?$top=5", "/groups/delta?$top=5"] {
        let (status, _) = get_with(&env, &token, delta, &[]).await;
        assert_eq!(status, 400, "{delta}");
    }
}

#[tokio::test]
async fn given_skip_or_unknown_or_single_user_properties_when_users_are_listed_then_refused() {
    // GIVEN a tenant [list]
    let env = Env::start(SimConfig::single(10, 2)).await;
    let token = env.token(0).await;
    let truth = env.sim.truth(&env.tenant(0).tenant_id).expect("truth");
    // WHEN $skip is used THEN 400: directory collections page with $skiptoken only
    let (status, body) = get_with(&env, &token, "/users?$skip=5", &[]).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body["error"]["message"],
        "'$skip' is not supported by the service."
    );
    // WHEN $select names a property the type lacks THEN 400
    let (status, body) = get_with(&env, &token, "/users?$select=id,lastLogin", &[]).await;
    assert_eq!(status, 400, "{body}");
    // WHEN a single-user-only property is selected on a list THEN 501, on one user 200
    for list in [
        "/users?$select=id,aboutMe".to_string(),
        format!("/groups/{}/members?$select=id,mySite", truth.groups[0].id),
        "/users/delta?$select=id,skills".to_string(),
    ] {
        let (status, body) = get_with(&env, &token, &list, &[]).await;
        assert_eq!(status, 501, "{list}: {body}");
    }
    let one = format!("/users/{}?$select=id,aboutMe", truth.users[0].id);
    let (status, body) = get_with(&env, &token, &one, &[]).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn given_sign_in_activity_selected_with_a_large_top_when_users_are_listed_then_pages_hold_at_most_120()
 {
    // GIVEN a P1 tenant of 300 users [list]: "the maximum page size for $top is 120. Requests
    // with $top set higher than 120 return pages with up to 120 users."
    let env = Env::start(SimConfig::single(300, 2)).await;
    let token = env.token(0).await;
    // WHEN signInActivity is listed with $top=999
    let (pages, requests) = env
        .get_all(&token, "/users?$select=id,signInActivity&$top=999")
        .await;
    // THEN every user comes back over pages of at most 120
    let live = env
        .sim
        .truth_counts(&env.tenant(0).tenant_id)
        .expect("counts")
        .counts
        .users;
    assert!(live > 240, "{live}");
    assert_eq!(pages.len(), live);
    assert_eq!(requests, live.div_ceil(120));
    // AND without signInActivity $top=999 returns them in one page
    let (_, requests) = env.get_all(&token, "/users?$select=id&$top=999").await;
    assert_eq!(requests, 1);
}

#[tokio::test]
async fn given_advanced_query_options_without_consistency_level_when_listed_then_400_and_with_it_200()
 {
    // GIVEN a tenant [advanced]
    let env = Env::start(SimConfig::single(10, 2)).await;
    let token = env.token(0).await;
    let eventual = [("ConsistencyLevel", "eventual")];
    for path in [
        "/users?$count=true",
        "/users/$count",
        "/groups/$count",
        "/users?$filter=accountEnabled ne false&$count=true",
    ] {
        // WHEN sent without ConsistencyLevel: eventual THEN 400
        let (status, body) = get_with(&env, &token, path, &[]).await;
        assert_eq!(status, 400, "{path}: {body}");
        // AND with it 200
        let (status, body) = get_with(&env, &token, path, &eventual).await;
        assert_eq!(status, 200, "{path}: {body}");
    }
    // WHEN `ne` comes with ConsistencyLevel but without $count=true THEN 400 as well
    let (status, body) = get_with(
        &env,
        &token,
        "/users?$filter=accountEnabled ne false",
        &eventual,
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "Request_UnsupportedQuery");
    // WHEN $search comes without ConsistencyLevel THEN 400
    let (status, _) = get_with(&env, &token, "/users?$search=\"displayName:a\"", &[]).await;
    assert_eq!(status, 400);
}

/// [auth-methods] learn: graph/api/authentication-list-methods, phoneauthenticationmethod-delete
/// ("a user can't have an alternateMobile number without a mobile number"), and the password
/// method has no delete; [mailbox] learn: graph/api/user-update-mailboxsettings
/// (automaticRepliesSetting's enums; a scheduled reply needs both times).
#[tokio::test]
async fn given_a_user_with_phone_methods_when_deleted_out_of_order_or_the_password_then_refused_and_mailbox_enums_checked()
 {
    // GIVEN a user with a mobile and an alternate mobile phone
    let env = Env::start(SimConfig::single(200, 1)).await;
    let token = env.token(0).await;
    let truth = env.sim.truth(&env.tenant(0).tenant_id).expect("truth");
    let mut target = None;
    for u in truth.users.iter().filter(|u| u.user_type == "Member") {
        let (_, body) = env
            .get_json(&token, &format!("/users/{}/authentication/methods", u.id))
            .await;
        let phones = body["value"]
            .as_array()
            .map(|v| v.iter().filter(|m| m["phoneType"].is_string()).count())
            .unwrap_or(0);
        if phones == 2 {
            target = Some(u.id.clone());
            break;
        }
    }
    let id = target.expect("a user with both phones");
    // WHEN the mobile phone is deleted first THEN 400
    let mobile =
        format!("/users/{id}/authentication/phoneMethods/3179e48a-750b-4051-897c-87b9720928f7");
    let (status, body) = send(&env, &token, Method::DELETE, &mobile, Value::Null).await;
    assert_eq!(status, 400, "{body}");
    // ... the password cannot be deleted at all
    let password =
        format!("/users/{id}/authentication/passwordMethods/28c10230-6103-485e-b985-444c60001490");
    let (status, _) = send(&env, &token, Method::DELETE, &password, Value::Null).await;
    assert_eq!(status, 405);
    // ... a method asked for under another kind's collection is not found
    let wrong =
        format!("/users/{id}/authentication/fido2Methods/b6332ec1-7057-4abe-9331-3d72feddfe41");
    let (status, _) = send(&env, &token, Method::DELETE, &wrong, Value::Null).await;
    assert_eq!(status, 404);
    // ... while alternate first, then mobile, both go
    let alternate =
        format!("/users/{id}/authentication/phoneMethods/b6332ec1-7057-4abe-9331-3d72feddfe41");
    let (status, _) = send(&env, &token, Method::DELETE, &alternate, Value::Null).await;
    assert_eq!(status, 204);
    let (status, _) = send(&env, &token, Method::DELETE, &mobile, Value::Null).await;
    assert_eq!(status, 204);

    // WHEN an automatic reply with an unknown status, or scheduled without times, is set
    let settings = format!("/users/{id}/mailboxSettings");
    for bad in [
        json!({"automaticRepliesSetting": {"status": "on"}}),
        json!({"automaticRepliesSetting": {"status": "scheduled"}}),
        json!({"automaticRepliesSetting": {"externalAudience": "everyone"}}),
        json!({"autoReply": {}}),
        // userPurpose is read-only (mailboxSettings, Graph v1.0: "Read-only")
        json!({"userPurpose": "shared"}),
    ] {
        let (status, body) = send(&env, &token, Method::PATCH, &settings, bad.clone()).await;
        // THEN 400, and nothing changed
        assert_eq!(status, 400, "{bad}: {body}");
    }
    let (_, now) = env.get_json(&token, &settings).await;
    assert_eq!(
        now["automaticRepliesSetting"]["status"], "disabled",
        "{now}"
    );
}
