//! What an account can still get in with besides its password and sessions: its registered
//! authentication methods, its app role assignments (enterprise applications), the delegated
//! permission grants made for it alone, and its mailbox's automatic reply
//! [learn: graph/api/resources/authenticationmethods-overview, approleassignment,
//! oauth2permissiongrant, automaticrepliessetting]. Kept beside the directory (keyed by user
//! index) so that a 100k-account tenant stays compact.

use std::collections::HashMap;

use uuid::Uuid;

use crate::state::{Str, Tenant, derive_seed, new_id};

/// Graph's fixed ids of phone methods, one per phone type, and of the password method.
pub(crate) const MOBILE_PHONE_ID: &str = "3179e48a-750b-4051-897c-87b9720928f7";
pub(crate) const ALTERNATE_MOBILE_PHONE_ID: &str = "b6332ec1-7057-4abe-9331-3d72feddfe41";
pub(crate) const PASSWORD_METHOD_ID: &str = "28c10230-6103-485e-b985-444c60001490";

/// The kinds of authentication method, each with its `@odata.type` and the collection below
/// `/users/{id}/authentication` that deletes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MethodKind {
    MobilePhone,
    AlternateMobilePhone,
    MicrosoftAuthenticator,
    Fido2,
    Email,
    SoftwareOath,
    TemporaryAccessPass,
}

impl MethodKind {
    pub fn odata_type(self) -> &'static str {
        match self {
            Self::MobilePhone | Self::AlternateMobilePhone => {
                "#microsoft.graph.phoneAuthenticationMethod"
            }
            Self::MicrosoftAuthenticator => {
                "#microsoft.graph.microsoftAuthenticatorAuthenticationMethod"
            }
            Self::Fido2 => "#microsoft.graph.fido2AuthenticationMethod",
            Self::Email => "#microsoft.graph.emailAuthenticationMethod",
            Self::SoftwareOath => "#microsoft.graph.softwareOathAuthenticationMethod",
            Self::TemporaryAccessPass => "#microsoft.graph.temporaryAccessPassAuthenticationMethod",
        }
    }

    /// The collection segment (`phoneMethods`, ...) that lists and deletes this kind.
    pub fn collection(self) -> &'static str {
        match self {
            Self::MobilePhone | Self::AlternateMobilePhone => "phoneMethods",
            Self::MicrosoftAuthenticator => "microsoftAuthenticatorMethods",
            Self::Fido2 => "fido2Methods",
            Self::Email => "emailMethods",
            Self::SoftwareOath => "softwareOathMethods",
            Self::TemporaryAccessPass => "temporaryAccessPassMethods",
        }
    }
}

/// One registered authentication method.
#[derive(Debug, Clone)]
pub(crate) struct AuthMethod {
    pub id: String,
    pub kind: MethodKind,
    /// Phone number, e-mail address or device name, as Graph shows it.
    pub label: Str,
    pub created: i64,
    /// A Temporary Access Pass's terms (start, lifetime in minutes, usable once), when one was
    /// created through POST .../temporaryAccessPassMethods.
    pub pass: Option<(i64, u32, bool)>,
}

/// One app role assignment of a user to an enterprise application.
#[derive(Debug, Clone)]
pub(crate) struct AppRoleGrant {
    /// Graph's ids of app role assignments are opaque strings, not GUIDs.
    pub id: String,
    pub app_role_id: Uuid,
    pub resource_id: Uuid,
    pub resource_name: Str,
    pub created: i64,
}

/// One delegated permission grant (`oAuth2PermissionGrant`) with the user as principal.
#[derive(Debug, Clone)]
pub(crate) struct PermissionGrant {
    pub id: String,
    pub client_id: Uuid,
    pub resource_id: Uuid,
    pub scope: Str,
}

/// `automaticRepliesSetting` of a mailbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AutoReply {
    /// disabled, alwaysEnabled or scheduled.
    pub status: String,
    /// none, contactsOnly or all.
    pub external_audience: String,
    pub internal_message: String,
    pub external_message: String,
    pub scheduled_start: Option<(String, String)>,
    pub scheduled_end: Option<(String, String)>,
}

impl Default for AutoReply {
    fn default() -> Self {
        Self {
            status: "disabled".into(),
            external_audience: "all".into(),
            internal_message: String::new(),
            external_message: String::new(),
            scheduled_start: None,
            scheduled_end: None,
        }
    }
}

/// Everything of one user here; absent users have none of it.
#[derive(Debug, Clone, Default)]
pub(crate) struct UserAccess {
    pub methods: Vec<AuthMethod>,
    pub app_roles: Vec<AppRoleGrant>,
    pub grants: Vec<PermissionGrant>,
    /// Set once the mailbox's automatic reply was changed (otherwise the default: disabled).
    pub auto_reply: Option<AutoReply>,
}

/// The enterprise applications of every tenant, with a role each (`resourceDisplayName`).
pub(crate) const APPS: [&str; 3] = ["Salesforce", "ServiceNow", "Zoom"];
/// The delegated scopes a user consented to for a client app.
const SCOPES: [&str; 3] = ["User.Read", "Mail.Read offline_access", "Files.ReadWrite"];

/// An opaque, URL-safe id like Graph's ids of app role assignments and permission grants (43
/// characters of base64url).
pub(crate) fn opaque_id(rng: &mut fastrand::Rng) -> String {
    use base64::Engine as _;
    let bytes: Vec<u8> = (0..32).map(|_| rng.u8(..)).collect();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Draws what members registered and were given (its own stream, so the rest of the tenant
/// stays as generated before): most members a mobile phone and the Authenticator app, some an
/// alternate mobile, a FIDO2 key, an e-mail method or an OATH app, a few a Temporary Access Pass;
/// a third an app role assignment, a fifth a delegated grant.
pub(crate) fn generate(t: &mut Tenant, seed: u64, index: usize, started: i64) {
    let mut rng = fastrand::Rng::with_seed(derive_seed(seed, 0xAC_0000 + index as u64));
    let apps: Vec<(Uuid, Uuid)> = APPS
        .iter()
        .map(|_| (new_id(&mut rng), new_id(&mut rng)))
        .collect();
    let graph_resource = new_id(&mut rng);
    let mut out: HashMap<u32, UserAccess> = HashMap::new();
    for (i, u) in t.users.iter().enumerate() {
        if u.guest {
            continue;
        }
        let created = u.created + 86_400;
        let mut access = UserAccess::default();
        let method = |kind: MethodKind, id: String, label: String| AuthMethod {
            pass: None,
            id,
            kind,
            label: label.as_str().into(),
            created,
        };
        if rng.f64() < 0.8 {
            let number = format!("+1 425555{:04}", rng.u32(0..10_000));
            access.methods.push(method(
                MethodKind::MobilePhone,
                MOBILE_PHONE_ID.into(),
                number,
            ));
            if rng.f64() < 0.2 {
                let number = format!("+1 206555{:04}", rng.u32(0..10_000));
                access.methods.push(method(
                    MethodKind::AlternateMobilePhone,
                    ALTERNATE_MOBILE_PHONE_ID.into(),
                    number,
                ));
            }
        }
        let draws = [
            (MethodKind::MicrosoftAuthenticator, 0.7, "iPhone 15"),
            (MethodKind::Fido2, 0.15, "YubiKey 5 NFC"),
            (MethodKind::Email, 0.2, ""),
            (MethodKind::SoftwareOath, 0.1, ""),
            (MethodKind::TemporaryAccessPass, 0.05, ""),
        ];
        for (kind, chance, label) in draws {
            if rng.f64() < chance {
                let label = if kind == MethodKind::Email {
                    format!("{}.private@example.com", u.mail_nickname)
                } else {
                    label.to_owned()
                };
                let id = new_id(&mut rng).to_string();
                access.methods.push(method(kind, id, label));
            }
        }
        if rng.f64() < 0.33 {
            let app = rng.usize(0..APPS.len());
            access.app_roles.push(AppRoleGrant {
                id: opaque_id(&mut rng),
                app_role_id: new_id(&mut rng),
                resource_id: apps[app].0,
                resource_name: APPS[app].into(),
                created: started - rng.i64(1..300) * 86_400,
            });
        }
        if rng.f64() < 0.2 {
            let app = rng.usize(0..APPS.len());
            access.grants.push(PermissionGrant {
                id: opaque_id(&mut rng),
                client_id: apps[app].1,
                resource_id: graph_resource,
                scope: SCOPES[rng.usize(0..SCOPES.len())].into(),
            });
        }
        if !access.methods.is_empty() || !access.app_roles.is_empty() || !access.grants.is_empty() {
            out.insert(i as u32, access);
        }
    }
    t.access = out;
}
