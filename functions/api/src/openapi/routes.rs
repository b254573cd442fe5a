//! The routes of the HTTP API as the document describes them: method, path, scopes, parameters,
//! body and answers, one entry per route of the API function and of the connection function.

use utoipa::openapi::schema::{ObjectBuilder, Type};

/// The security scheme's name in the document.
pub const SECURITY_SCHEME: &str = "PlatformJwt";

/// Who may call a route.
#[derive(Debug, Clone, Copy)]
pub enum Access {
    /// No token (API Gateway's `Authorizer: NONE`).
    Public,
    /// A platform JWT whose `scope` (or `scp`) claim holds one of these scopes.
    Scopes(&'static [&'static str]),
}

/// What a route answers with a status.
#[derive(Debug, Clone, Copy)]
pub(super) enum Content {
    /// JSON of the named component schema.
    Json(&'static str),
    /// An HTML page (the admin's browser reads it).
    Html,
    /// A redirect: no body, a `Location` header.
    Redirect,
}

/// A query parameter: name, what it is, its schema.
pub(super) type Query = (&'static str, &'static str, fn() -> ObjectBuilder);

/// One route of the HTTP API, as the document describes it.
#[derive(Debug, Clone, Copy)]
pub struct Route {
    /// `GET`, `POST`, `DELETE`.
    pub method: &'static str,
    /// The path as API Gateway routes it (`/tenants/{tenant_id}`).
    pub path: &'static str,
    /// Who may call it.
    pub access: Access,
    pub(super) operation_id: &'static str,
    pub(super) summary: &'static str,
    pub(super) query: &'static [Query],
    /// The JSON body's component schema and whether a body is required.
    pub(super) body: Option<(&'static str, bool)>,
    /// The answers it gives besides the common errors.
    pub(super) answers: &'static [(u16, &'static str, Content)],
    /// The error statuses it answers in the error shape.
    pub(super) errors: &'static [u16],
}

const READ: Access = Access::Scopes(&["lifecycle.read"]);
const WRITE: Access = Access::Scopes(&["lifecycle.write"]);
const ADMIN: Access = Access::Scopes(&["tenants.admin"]);

pub(super) fn text() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String)
}

fn boolean() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(["true", "false"]))
}

fn items_limit() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .minimum(Some(1))
        .maximum(Some(crate::synced::MAX_LIMIT))
}

fn runs_limit() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .minimum(Some(1))
        .maximum(Some(crate::synced::MAX_RUNS))
}

fn days() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .minimum(Some(1))
        .maximum(Some(3650))
}

fn mode() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(["read", "write", "read_only", "read_write"]))
}

const PAGE: &[Query] = &[
    ("limit", "Items per page (default 100).", items_limit),
    ("cursor", "The `next_cursor` of the previous page.", text),
    (
        "include_deleted",
        "`true` to list soft-deleted items too.",
        boolean,
    ),
];

/// Every route of the HTTP API: the API function's, then the connection function's.
pub const ROUTES: &[Route] = &[
    Route {
        method: "GET",
        path: "/health",
        access: Access::Public,
        operation_id: "health",
        summary: "Liveness: ok and the version when the table answers.",
        query: &[],
        body: None,
        answers: &[
            (
                200,
                "The function and its table answer.",
                Content::Json("Health"),
            ),
            (503, "The table does not answer.", Content::Json("Health")),
        ],
        errors: &[],
    },
    Route {
        method: "GET",
        path: "/openapi.json",
        access: Access::Public,
        operation_id: "openapi",
        summary: "This document.",
        query: &[],
        body: None,
        answers: &[(200, "The OpenAPI 3.1 document.", Content::Json("Object"))],
        errors: &[],
    },
    Route {
        method: "GET",
        path: "/tenants",
        access: READ,
        operation_id: "listTenants",
        summary: "The caller organization's connected tenants.",
        query: &[],
        body: None,
        answers: &[(200, "The tenants.", Content::Json("TenantList"))],
        errors: &[503],
    },
    Route {
        method: "GET",
        path: "/tenants/{tenant_id}",
        access: READ,
        operation_id: "getTenant",
        summary: "A tenant's connection: status, mode, domains, last sync.",
        query: &[],
        body: None,
        answers: &[(200, "The connection.", Content::Json("TenantConnection"))],
        errors: &[400, 404, 503],
    },
    Route {
        method: "DELETE",
        path: "/tenants/{tenant_id}",
        access: ADMIN,
        operation_id: "removeTenant",
        summary: "Removes a tenant: its data and secrets here, the app's access there.",
        query: &[],
        body: None,
        answers: &[(
            200,
            "What was deleted and revoked.",
            Content::Json("Removed"),
        )],
        errors: &[400, 404, 503],
    },
    Route {
        method: "POST",
        path: "/tenants/{tenant_id}/sync",
        access: WRITE,
        operation_id: "requestSync",
        summary: "Requests a sync run (merged into a pending one).",
        query: &[("full", "`true` for a full sync.", boolean)],
        body: Some(("SyncRequest", false)),
        answers: &[(
            202,
            "The sync run, queued or merged.",
            Content::Json("SyncQueued"),
        )],
        errors: &[400, 404, 409, 415, 503],
    },
    Route {
        method: "GET",
        path: "/tenants/{tenant_id}/sync-runs",
        access: READ,
        operation_id: "listSyncRuns",
        summary: "The tenant's sync runs, newest first.",
        query: &[("limit", "Runs to list (default 20).", runs_limit)],
        body: None,
        answers: &[(200, "A page of sync runs.", Content::Json("SyncRunLog"))],
        errors: &[400, 404, 503],
    },
    Route {
        method: "POST",
        path: "/tenants/{tenant_id}/matches",
        access: READ,
        operation_id: "matchPeople",
        summary: "Matches the platform's people (at most 200) to the tenant's synced accounts.",
        query: &[],
        body: Some(("MatchRequest", true)),
        answers: &[(
            200,
            "Each person's match or suggestions, and the accounts matched to nobody.",
            Content::Json("MatchReport"),
        )],
        errors: &[400, 404, 413, 415, 503],
    },
    Route {
        method: "GET",
        path: "/tenants/{tenant_id}/matches",
        access: READ,
        operation_id: "listConfirmedMatches",
        summary: "The confirmed matches, each confirmed or broken.",
        query: &[],
        body: None,
        answers: &[(
            200,
            "The confirmed matches.",
            Content::Json("ConfirmedMatches"),
        )],
        errors: &[400, 404, 503],
    },
    Route {
        method: "PUT",
        path: "/tenants/{tenant_id}/matches/{person_id}",
        access: WRITE,
        operation_id: "confirmMatch",
        summary: "Confirms that a person is a synced account of the tenant.",
        query: &[],
        body: Some(("ConfirmMatch", true)),
        answers: &[(200, "The confirmed match.", Content::Json("ConfirmedView"))],
        errors: &[400, 404, 415, 503],
    },
    Route {
        method: "GET",
        path: "/tenants/{tenant_id}/sync-settings",
        access: READ,
        operation_id: "getSyncSettings",
        summary: "What the tenant's sync keeps (kinds, which accounts) and how often.",
        query: &[],
        body: None,
        answers: &[(200, "The sync settings.", Content::Json("SyncSettingsView"))],
        errors: &[400, 404, 503],
    },
    Route {
        method: "PUT",
        path: "/tenants/{tenant_id}/sync-settings",
        access: WRITE,
        operation_id: "putSyncSettings",
        summary: "Replaces the tenant's sync settings; a change of what is kept makes the next run full.",
        query: &[],
        body: Some(("SyncSettings", true)),
        answers: &[(
            200,
            "The sync settings as stored (and the full run queued for the change).",
            Content::Json("SyncSettingsView"),
        )],
        errors: &[400, 404, 415, 503],
    },
    Route {
        method: "GET",
        path: "/tenants/{tenant_id}/accounts",
        access: READ,
        operation_id: "listAccounts",
        summary: "The tenant's synced accounts.",
        query: PAGE,
        body: None,
        answers: &[(200, "A page of accounts.", Content::Json("AccountPage"))],
        errors: &[400, 404, 503],
    },
    Route {
        method: "GET",
        path: "/tenants/{tenant_id}/accounts/{account_id}",
        access: READ,
        operation_id: "getAccount",
        summary: "One synced account, by object id or user principal name.",
        query: &[],
        body: None,
        answers: &[(200, "The account.", Content::Json("Account"))],
        errors: &[400, 404, 503],
    },
    Route {
        method: "POST",
        path: "/tenants/{tenant_id}/accounts/{account_id}/restore",
        access: WRITE,
        operation_id: "restoreAccount",
        summary: "Restores a deleted account within Entra's 30-day window.",
        query: &[],
        body: Some(("RestoreRequest", false)),
        answers: &[(
            200,
            "The steps taken (or planned).",
            Content::Json("RestoreReport"),
        )],
        errors: &[400, 404, 409, 415, 502, 503],
    },
    Route {
        method: "GET",
        path: "/tenants/{tenant_id}/groups",
        access: READ,
        operation_id: "listGroups",
        summary: "The tenant's synced groups.",
        query: PAGE,
        body: None,
        answers: &[(200, "A page of groups.", Content::Json("GroupPage"))],
        errors: &[400, 404, 503],
    },
    Route {
        method: "GET",
        path: "/tenants/{tenant_id}/groups/{group_id}/members",
        access: READ,
        operation_id: "listGroupMembers",
        summary: "A synced group's members that are accounts, each with its account.",
        query: &[
            ("limit", "Members per page (default 100).", items_limit),
            ("cursor", "The `next_cursor` of the previous page.", text),
        ],
        body: None,
        answers: &[(
            200,
            "The group and a page of its members.",
            Content::Json("GroupMembersPage"),
        )],
        errors: &[400, 404, 503],
    },
    Route {
        method: "GET",
        path: "/tenants/{tenant_id}/licenses",
        access: READ,
        operation_id: "listLicenses",
        summary: "Per-SKU seats: total, consumed, unused, suspended.",
        query: &[],
        body: None,
        answers: &[(200, "The SKUs and their totals.", Content::Json("Licenses"))],
        errors: &[400, 404, 503],
    },
    Route {
        method: "GET",
        path: "/tenants/{tenant_id}/licenses/report",
        access: READ,
        operation_id: "licenseReport",
        summary: "Licensed accounts that are inactive (seats to reclaim).",
        query: &[("inactive_after_days", "Days without a sign-in.", days)],
        body: None,
        answers: &[(200, "The report.", Content::Json("LicenseReport"))],
        errors: &[400, 404, 503],
    },
    Route {
        method: "POST",
        path: "/tenants/{tenant_id}/licenses/refresh",
        access: WRITE,
        operation_id: "refreshLicenses",
        summary: "Queues a license refresh job.",
        query: &[],
        body: Some(("RefreshRequest", false)),
        answers: &[(202, "The job.", Content::Json("RefreshQueued"))],
        errors: &[400, 404, 409, 415, 503],
    },
    Route {
        method: "POST",
        path: "/tenants/{tenant_id}/jobs",
        access: WRITE,
        operation_id: "submitJobs",
        summary: "Submits a lifecycle job, or a list of up to 100.",
        query: &[],
        body: Some(("JobSubmission", true)),
        answers: &[
            (
                200,
                "The same job was submitted before.",
                Content::Json("JobAccepted"),
            ),
            (
                202,
                "The job is recorded and queued.",
                Content::Json("JobAccepted"),
            ),
            (
                207,
                "A list of jobs: one result each, in order.",
                Content::Json("BulkResult"),
            ),
        ],
        errors: &[400, 404, 409, 413, 415, 422, 503],
    },
    Route {
        method: "GET",
        path: "/tenants/{tenant_id}/jobs/{job_id}",
        access: READ,
        operation_id: "getJob",
        summary: "A job's status, steps, checks, plan and warnings.",
        query: &[],
        body: None,
        answers: &[(200, "The job record.", Content::Json("JobView"))],
        errors: &[400, 404, 503],
    },
    Route {
        method: "DELETE",
        path: "/tenants/{tenant_id}/jobs/{job_id}",
        access: WRITE,
        operation_id: "cancelJob",
        summary: "Cancels a job not yet started.",
        query: &[],
        body: None,
        answers: &[(200, "The job, cancelled.", Content::Json("JobView"))],
        errors: &[400, 404, 409, 503],
    },
    Route {
        method: "GET",
        path: "/tenants/{tenant_id}/jobs/{job_id}/password",
        access: WRITE,
        operation_id: "takePassword",
        summary: "Hands an onboarding's generated password over once, then deletes it.",
        query: &[],
        body: None,
        answers: &[(
            200,
            "The password (once).",
            Content::Json("PasswordHandedBack"),
        )],
        errors: &[400, 404, 409, 503],
    },
    Route {
        method: "POST",
        path: "/tenants/{tenant_id}/jobs/{job_id}/retry",
        access: WRITE,
        operation_id: "retryJob",
        summary: "Queues a failed job again.",
        query: &[],
        body: None,
        answers: &[(202, "The job, queued again.", Content::Json("JobAccepted"))],
        errors: &[400, 404, 409, 503],
    },
    Route {
        method: "GET",
        path: "/tenants/{tenant_id}/jobs/{job_id}/receipt",
        access: READ,
        operation_id: "jobReceipt",
        summary: "A job's receipt: what was asked, by whom, what Graph answered, and digests.",
        query: &[],
        body: None,
        answers: &[(
            200,
            "The receipt and its digest checks.",
            Content::Json("ReceiptAnswer"),
        )],
        errors: &[400, 404, 503],
    },
    // The connection function (functions/oauth-callback).
    Route {
        method: "GET",
        path: "/connect",
        access: ADMIN,
        operation_id: "startConsent",
        summary: "A single-use start link for the admin consent flow.",
        query: &[
            ("mode", "The access to grant.", mode),
            (
                "return_to",
                "Where the result page links back to (an allowed origin).",
                text,
            ),
            (
                "tenant",
                "The tenant id the admin should sign in to (a hint).",
                text,
            ),
        ],
        body: None,
        answers: &[(200, "`{\"start_url\"}`.", Content::Json("StartLink"))],
        errors: &[400, 503],
    },
    Route {
        method: "GET",
        path: "/connect/start",
        access: Access::Public,
        operation_id: "openConsent",
        summary: "The admin's browser opens the start link: flow cookie, redirect to consent.",
        query: &[("flow", "The signed, single-use start state.", text)],
        body: None,
        answers: &[
            (302, "To Microsoft's admin consent.", Content::Redirect),
            (
                400,
                "The link is not valid (a page that says so).",
                Content::Html,
            ),
            (
                503,
                "The flow could not start (a page that says so).",
                Content::Html,
            ),
        ],
        errors: &[],
    },
    Route {
        method: "GET",
        path: "/oauth/callback",
        access: Access::Public,
        operation_id: "consentCallback",
        summary: "Where Microsoft returns the admin's browser after consent and sign-in.",
        query: &[
            ("state", "The signed, single-use state.", text),
            (
                "code",
                "The authorization code of the admin's sign-in.",
                text,
            ),
            ("tenant", "The tenant that consented.", text),
            ("admin_consent", "`True` after consent.", text),
            ("error", "The identity platform's error code.", text),
            (
                "error_description",
                "The identity platform's error text.",
                text,
            ),
        ],
        body: None,
        answers: &[
            (200, "The result page.", Content::Html),
            (302, "To the admin's sign-in.", Content::Redirect),
            (400, "A page that says what went wrong.", Content::Html),
            (403, "A page that says what went wrong.", Content::Html),
            (409, "A page that says what went wrong.", Content::Html),
            (502, "A page that says what went wrong.", Content::Html),
            (503, "A page that says what went wrong.", Content::Html),
        ],
        errors: &[],
    },
    Route {
        method: "POST",
        path: "/tenants",
        access: ADMIN,
        operation_id: "connectOwnApp",
        summary: "Connects a tenant with the customer's own app registration.",
        query: &[],
        body: Some(("OwnAppRequest", true)),
        answers: &[(
            201,
            "The connection and its permission report.",
            Content::Json("TenantConnected"),
        )],
        errors: &[400, 409, 415, 422, 502, 503],
    },
    Route {
        method: "POST",
        path: "/tenants/{tenant_id}/test",
        access: WRITE,
        operation_id: "testConnection",
        summary: "Tests a connection: a report per permission.",
        query: &[],
        body: None,
        answers: &[(200, "The report.", Content::Json("ConnectionTested"))],
        errors: &[400, 404, 409, 422, 502, 503],
    },
    Route {
        method: "GET",
        path: "/tenants/{tenant_id}/customers",
        access: READ,
        operation_id: "listPartnerCustomers",
        summary: "A partner tenant's GDAP customer tenants.",
        query: &[],
        body: None,
        answers: &[(200, "The customers.", Content::Json("PartnerCustomers"))],
        errors: &[400, 404, 409, 502, 503],
    },
    Route {
        method: "POST",
        path: "/tenants/{tenant_id}/customers/{customer_id}/connect",
        access: ADMIN,
        operation_id: "connectPartnerCustomer",
        summary: "Connects one GDAP customer of a partner tenant.",
        query: &[],
        body: Some(("ConnectCustomer", false)),
        answers: &[
            (
                201,
                "The customer is connected.",
                Content::Json("TenantConnected"),
            ),
            (
                202,
                "The customer has not consented yet: a partner administrator opens start_url.",
                Content::Json("ConsentRequired"),
            ),
        ],
        errors: &[400, 404, 409, 415, 422, 502, 503],
    },
];
