//! The structural properties of `microsoft.graph.user` and `microsoft.graph.group` (names
//! exactly as in the v1.0 CSDL), `$select` resolution and the writers for one object.

use crate::json;
use crate::state::{Group, GroupKind, Tenant, User};

/// What Graph returns for a property the simulator does not model.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Empty {
    Null,
    Array,
    /// Non-nullable scalars Graph fills with a fixed value.
    Lit(&'static str),
}

use Empty::{Array as A, Lit, Null as N};

/// Every structural property of `user` (navigation properties excluded), CSDL order.
pub(crate) const USER_PROPS: &[(&str, Empty)] = &[
    ("id", N),
    ("deletedDateTime", N),
    ("aboutMe", N),
    ("accountEnabled", N),
    ("ageGroup", N),
    ("assignedLicenses", A),
    ("assignedPlans", A),
    ("authorizationInfo", N),
    ("birthday", Lit("\"0001-01-01T00:00:00Z\"")),
    ("businessPhones", A),
    ("city", N),
    ("companyName", N),
    ("consentProvidedForMinor", N),
    ("country", N),
    ("createdDateTime", N),
    ("creationType", N),
    ("customSecurityAttributes", N),
    ("department", N),
    ("deviceEnrollmentLimit", Lit("5")),
    ("displayName", N),
    ("employeeHireDate", N),
    ("employeeId", N),
    ("employeeLeaveDateTime", N),
    ("employeeOrgData", N),
    ("employeeType", N),
    ("externalUserState", N),
    ("externalUserStateChangeDateTime", N),
    ("faxNumber", N),
    ("givenName", N),
    ("hireDate", Lit("\"0001-01-01T00:00:00Z\"")),
    ("identities", A),
    ("identityParentId", N),
    ("imAddresses", A),
    ("interests", A),
    ("isManagementRestricted", N),
    ("isResourceAccount", N),
    ("jobTitle", N),
    ("lastPasswordChangeDateTime", N),
    ("legalAgeGroupClassification", N),
    ("licenseAssignmentStates", A),
    ("mail", N),
    ("mailboxSettings", N),
    ("mailNickname", N),
    ("mobilePhone", N),
    ("mySite", N),
    ("officeLocation", N),
    ("onPremisesDistinguishedName", N),
    ("onPremisesDomainName", N),
    ("onPremisesExtensionAttributes", N),
    ("onPremisesImmutableId", N),
    ("onPremisesLastSyncDateTime", N),
    ("onPremisesProvisioningErrors", A),
    ("onPremisesSamAccountName", N),
    ("onPremisesSecurityIdentifier", N),
    ("onPremisesSyncEnabled", N),
    ("onPremisesUserPrincipalName", N),
    ("otherMails", A),
    ("passwordPolicies", N),
    ("passwordProfile", N),
    ("pastProjects", A),
    ("postalCode", N),
    ("preferredDataLocation", N),
    ("preferredLanguage", N),
    ("preferredName", N),
    ("print", N),
    ("provisionedPlans", A),
    ("proxyAddresses", A),
    ("responsibilities", A),
    ("schools", A),
    ("securityIdentifier", N),
    ("serviceProvisioningErrors", A),
    ("showInAddressList", N),
    ("signInActivity", N),
    ("signInSessionsValidFromDateTime", N),
    ("skills", A),
    ("state", N),
    ("streetAddress", N),
    ("surname", N),
    ("usageLocation", N),
    ("userPrincipalName", N),
    ("userType", N),
];

/// Every structural property of `group` (navigation properties excluded), CSDL order.
pub(crate) const GROUP_PROPS: &[(&str, Empty)] = &[
    ("id", N),
    ("deletedDateTime", N),
    ("accessType", N),
    ("allowExternalSenders", N),
    ("assignedLabels", A),
    ("assignedLicenses", A),
    ("autoSubscribeNewMembers", N),
    ("classification", N),
    ("createdDateTime", N),
    ("description", N),
    ("displayName", N),
    ("expirationDateTime", N),
    ("groupTypes", A),
    ("hasMembersWithLicenseErrors", N),
    ("hideFromAddressLists", N),
    ("hideFromOutlookClients", N),
    ("infoCatalogs", A),
    ("isArchived", N),
    ("isAssignableToRole", N),
    ("isFavorite", N),
    ("isManagementRestricted", N),
    ("isSubscribedByMail", N),
    ("licenseProcessingState", N),
    ("mail", N),
    ("mailEnabled", N),
    ("mailNickname", N),
    ("membershipRule", N),
    ("membershipRuleProcessingState", N),
    ("onPremisesDomainName", N),
    ("onPremisesExtensionAttributes", N),
    ("onPremisesLastSyncDateTime", N),
    ("onPremisesNetBiosName", N),
    ("onPremisesProvisioningErrors", A),
    ("onPremisesSamAccountName", N),
    ("onPremisesSecurityIdentifier", N),
    ("onPremisesSyncEnabled", N),
    ("organizationId", N),
    ("preferredDataLocation", N),
    ("preferredLanguage", N),
    ("proxyAddresses", A),
    ("renewedDateTime", N),
    ("resourceBehaviorOptions", A),
    ("resourceProvisioningOptions", A),
    ("securityEnabled", N),
    ("securityIdentifier", N),
    ("serviceProvisioningErrors", A),
    ("theme", N),
    ("uniqueName", N),
    ("unseenConversationsCount", N),
    ("unseenCount", N),
    ("unseenMessagesCount", N),
    ("visibility", N),
    ("welcomeMessageEnabled", N),
];

/// Graph v1.0 returns these for GET /users without `$select`.
pub(crate) const USER_DEFAULT: &[&str] = &[
    "businessPhones",
    "displayName",
    "givenName",
    "jobTitle",
    "mail",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
    "surname",
    "userPrincipalName",
    "id",
];

/// Graph v1.0 returns these for GET /groups without `$select`.
pub(crate) const GROUP_DEFAULT: &[&str] = &[
    "id",
    "deletedDateTime",
    "classification",
    "createdDateTime",
    "description",
    "displayName",
    "expirationDateTime",
    "groupTypes",
    "isAssignableToRole",
    "mail",
    "mailEnabled",
    "mailNickname",
    "membershipRule",
    "membershipRuleProcessingState",
    "onPremisesDomainName",
    "onPremisesLastSyncDateTime",
    "onPremisesNetBiosName",
    "onPremisesSamAccountName",
    "onPremisesSecurityIdentifier",
    "onPremisesSyncEnabled",
    "preferredDataLocation",
    "preferredLanguage",
    "proxyAddresses",
    "renewedDateTime",
    "resourceBehaviorOptions",
    "resourceProvisioningOptions",
    "securityEnabled",
    "securityIdentifier",
    "theme",
    "visibility",
    "onPremisesProvisioningErrors",
    "serviceProvisioningErrors",
];

/// A resolved `$select`: indexes into a property table, in table order, `id` always first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Selection(pub Vec<usize>);

impl Selection {
    /// Resolves names against a table; Err(name) for a property the type does not have.
    /// `members` is a navigation property that only delta interprets; it is skipped here.
    pub fn resolve<'a>(
        table: &[(&str, Empty)],
        names: impl IntoIterator<Item = &'a str>,
    ) -> Result<Selection, String> {
        let mut idx = vec![0usize];
        for name in names {
            let name = name.trim();
            if name.is_empty() || name == "members" {
                continue;
            }
            let Some(i) = table.iter().position(|(n, _)| n.eq_ignore_ascii_case(name)) else {
                return Err(name.to_string());
            };
            idx.push(i);
        }
        idx.sort_unstable();
        idx.dedup();
        Ok(Selection(idx))
    }

    pub fn has(&self, table: &[(&str, Empty)], name: &str) -> bool {
        self.0.iter().any(|&i| table[i].0 == name)
    }
}

fn empty(out: &mut Vec<u8>, e: Empty) {
    match e {
        Empty::Null => out.extend_from_slice(b"null"),
        Empty::Array => out.extend_from_slice(b"[]"),
        Empty::Lit(s) => out.extend_from_slice(s.as_bytes()),
    }
}

/// Writes one user object with the selected properties.
pub(crate) fn write_user(
    out: &mut Vec<u8>,
    t: &Tenant,
    u: &User,
    sel: &Selection,
    odata_type: bool,
) {
    out.push(b'{');
    let mut first = true;
    if odata_type {
        json::key(out, &mut first, "@odata.type");
        json::str(out, "#microsoft.graph.user");
    }
    for &i in &sel.0 {
        let (name, e) = USER_PROPS[i];
        json::key(out, &mut first, name);
        match name {
            "id" => json::uuid(out, &u.id),
            "deletedDateTime" => json::opt_date(out, u.deleted_at),
            "accountEnabled" => json::bool(out, u.account_enabled),
            "assignedLicenses" => {
                out.push(b'[');
                for (n, sku) in u.assigned_skus().enumerate() {
                    if n > 0 {
                        out.push(b',');
                    }
                    // The direct assignment's disabled plans where there is one.
                    let disabled = u
                        .licenses
                        .iter()
                        .find(|a| a.sku == sku && a.by_group.is_none())
                        .map_or(0, |a| a.disabled);
                    out.extend_from_slice(b"{\"disabledPlans\":");
                    write_plans(out, t.skus[sku as usize].def, disabled);
                    out.extend_from_slice(b",\"skuId\":");
                    json::str(out, t.skus[sku as usize].def.sku_id);
                    out.push(b'}');
                }
                out.push(b']');
            }
            "assignedPlans" => {
                out.push(b'[');
                let mut n = 0;
                for sku in u.assigned_skus() {
                    for plan in t.skus[sku as usize].def.plans {
                        if n > 0 {
                            out.push(b',');
                        }
                        n += 1;
                        out.extend_from_slice(b"{\"assignedDateTime\":");
                        json::date(out, u.created);
                        out.extend_from_slice(b",\"capabilityStatus\":\"Enabled\",\"service\":");
                        json::str(out, plan.name);
                        out.extend_from_slice(b",\"servicePlanId\":");
                        json::str(out, plan.id);
                        out.push(b'}');
                    }
                }
                out.push(b']');
            }
            "licenseAssignmentStates" => {
                out.push(b'[');
                for (n, a) in u.licenses.iter().enumerate() {
                    if n > 0 {
                        out.push(b',');
                    }
                    out.extend_from_slice(b"{\"assignedByGroup\":");
                    match a.by_group.and_then(|g| t.groups.get(g as usize)) {
                        Some(g) => json::uuid(out, &g.id),
                        None => out.extend_from_slice(b"null"),
                    }
                    out.extend_from_slice(b",\"disabledPlans\":");
                    write_plans(out, t.skus[a.sku as usize].def, a.disabled);
                    out.extend_from_slice(b",\"error\":\"None\",\"lastUpdatedDateTime\":");
                    json::date(out, u.created);
                    out.extend_from_slice(b",\"skuId\":");
                    json::str(out, t.skus[a.sku as usize].def.sku_id);
                    out.extend_from_slice(b",\"state\":\"Active\"}");
                }
                out.push(b']');
            }
            "businessPhones" => {
                out.push(b'[');
                if let Some(p) = &u.business_phone {
                    json::str(out, p);
                }
                out.push(b']');
            }
            "proxyAddresses" => {
                out.push(b'[');
                for (n, address) in u.proxy_addresses(t).iter().enumerate() {
                    if n > 0 {
                        out.push(b',');
                    }
                    json::str(out, address);
                }
                out.push(b']');
            }
            "otherMails" => {
                out.push(b'[');
                if u.guest
                    && let Some(m) = &u.mail
                {
                    json::str(out, m);
                }
                out.push(b']');
            }
            "city" | "officeLocation" => json::opt_str(out, u.office_location.as_deref()),
            "country" => json::opt_str(out, u.country.as_deref()),
            "createdDateTime" => json::date(out, u.created),
            "creationType" => json::opt_str(out, u.guest.then_some("Invitation")),
            "department" => json::opt_str(out, u.department.as_deref()),
            "displayName" => json::str(out, &u.display_name),
            "employeeId" => json::opt_str(out, u.employee_id.as_deref()),
            "externalUserState" => json::opt_str(out, u.guest.then_some("Accepted")),
            "externalUserStateChangeDateTime" => {
                json::opt_date(out, u.guest.then_some(u.created))
            }
            "givenName" => json::opt_str(out, u.given_name.as_deref()),
            "jobTitle" => json::opt_str(out, u.job_title.as_deref()),
            "mail" => json::opt_str(out, u.mail.as_deref()),
            "mailNickname" => json::str(out, &u.mail_nickname),
            "mobilePhone" => json::opt_str(out, u.mobile_phone.as_deref()),
            "onPremisesSyncEnabled" => {
                if u.on_prem {
                    json::bool(out, true)
                } else {
                    out.extend_from_slice(b"null")
                }
            }
            "onPremisesImmutableId" => {
                let v = u.on_prem.then(|| immutable_id(u));
                json::opt_str(out, v.as_deref())
            }
            "onPremisesSamAccountName" => {
                let v = u.on_prem.then(|| sam_account(u));
                json::opt_str(out, v.as_deref())
            }
            "onPremisesUserPrincipalName" => json::opt_str(out, u.on_prem.then_some(&*u.upn)),
            "onPremisesDomainName" => {
                json::opt_str(out, u.on_prem.then_some(t.default_domain()))
            }
            "onPremisesLastSyncDateTime" => {
                json::opt_date(out, u.on_prem.then_some(u.changed_seq_time(t)))
            }
            "preferredLanguage" => json::opt_str(out, (!u.guest).then_some("en-US")),
            "signInActivity" => match &u.sign_in {
                Some(s) => {
                    out.extend_from_slice(b"{\"lastNonInteractiveSignInDateTime\":");
                    json::date(out, s.last_non_interactive);
                    out.extend_from_slice(b",\"lastNonInteractiveSignInRequestId\":");
                    json::uuid(out, &u.id);
                    out.extend_from_slice(b",\"lastSignInDateTime\":");
                    json::date(out, s.last);
                    out.extend_from_slice(b",\"lastSignInRequestId\":");
                    json::uuid(out, &u.id);
                    out.extend_from_slice(b",\"lastSuccessfulSignInDateTime\":");
                    json::date(out, s.last_successful);
                    out.extend_from_slice(b",\"lastSuccessfulSignInRequestId\":");
                    json::uuid(out, &u.id);
                    out.push(b'}');
                }
                None => out.extend_from_slice(
                    b"{\"lastNonInteractiveSignInDateTime\":null,\"lastNonInteractiveSignInRequestId\":null,\"lastSignInDateTime\":null,\"lastSignInRequestId\":null,\"lastSuccessfulSignInDateTime\":null,\"lastSuccessfulSignInRequestId\":null}",
                ),
            },
            "signInSessionsValidFromDateTime" => json::date(out, u.sessions_valid_from),
            "showInAddressList" => out.extend_from_slice(b"null"),
            "surname" => json::opt_str(out, u.surname.as_deref()),
            "usageLocation" => json::opt_str(out, u.usage_location.as_deref()),
            "userPrincipalName" => json::str(out, &u.upn),
            "userType" => json::str(out, if u.guest { "Guest" } else { "Member" }),
            _ => empty(out, e),
        }
    }
    out.push(b'}');
}

impl User {
    /// Time of the last directory-sync for synced users: fixed per user.
    fn changed_seq_time(&self, t: &Tenant) -> i64 {
        t.created.max(self.created) + 3600
    }
}

fn immutable_id(u: &User) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(u.id.as_bytes())
}

fn sam_account(u: &User) -> String {
    u.mail_nickname.chars().take(20).collect()
}

/// Writes one group object with the selected properties.
pub(crate) fn write_group(
    out: &mut Vec<u8>,
    t: &Tenant,
    g: &Group,
    sel: &Selection,
    odata_type: bool,
) {
    out.push(b'{');
    let mut first = true;
    if odata_type {
        json::key(out, &mut first, "@odata.type");
        json::str(out, "#microsoft.graph.group");
    }
    write_group_props(out, &mut first, t, g, sel);
    out.push(b'}');
}

/// Writes the selected group properties as object members (no braces), for delta to extend.
pub(crate) fn write_group_props(
    out: &mut Vec<u8>,
    first: &mut bool,
    t: &Tenant,
    g: &Group,
    sel: &Selection,
) {
    for &i in &sel.0 {
        let (name, e) = GROUP_PROPS[i];
        json::key(out, first, name);
        match name {
            "id" => json::uuid(out, &g.id),
            "deletedDateTime" => out.extend_from_slice(b"null"),
            "assignedLicenses" => {
                out.push(b'[');
                for (n, sku) in g.licenses.iter().enumerate() {
                    if n > 0 {
                        out.push(b',');
                    }
                    out.extend_from_slice(b"{\"disabledPlans\":[],\"skuId\":");
                    json::str(out, t.skus[*sku as usize].def.sku_id);
                    out.push(b'}');
                }
                out.push(b']');
            }
            "createdDateTime" | "renewedDateTime" => json::date(out, g.created),
            "description" => json::opt_str(out, g.description.as_deref()),
            "displayName" => json::str(out, &g.display_name),
            "groupTypes" => out.extend_from_slice(match g.kind {
                GroupKind::Unified => b"[\"Unified\"]".as_slice(),
                GroupKind::DynamicUnified => b"[\"Unified\",\"DynamicMembership\"]",
                GroupKind::DynamicSecurity => b"[\"DynamicMembership\"]",
                _ => b"[]",
            }),
            "isAssignableToRole" => out.extend_from_slice(b"null"),
            "mail" => json::opt_str(out, g.mail.as_deref()),
            "mailEnabled" => json::bool(out, g.kind.mail_enabled()),
            "mailNickname" => json::str(out, &g.mail_nickname),
            "membershipRule" => json::opt_str(out, g.membership_rule.as_deref()),
            "membershipRuleProcessingState" => {
                json::opt_str(out, g.kind.is_dynamic().then_some("On"))
            }
            "onPremisesSyncEnabled" => {
                if g.on_prem {
                    json::bool(out, true)
                } else {
                    out.extend_from_slice(b"null")
                }
            }
            "onPremisesLastSyncDateTime" => json::opt_date(out, g.on_prem.then_some(g.created)),
            "onPremisesSamAccountName" => {
                json::opt_str(out, g.on_prem.then_some(&*g.mail_nickname))
            }
            "proxyAddresses" => {
                out.push(b'[');
                if let Some(m) = &g.mail {
                    json::str(out, &format!("SMTP:{m}"));
                }
                out.push(b']');
            }
            "resourceProvisioningOptions" => {
                out.extend_from_slice(if g.kind == GroupKind::Unified && g.created % 3 == 0 {
                    b"[\"Team\"]".as_slice()
                } else {
                    b"[]"
                })
            }
            "securityEnabled" => json::bool(out, g.kind.security_enabled()),
            "visibility" => json::opt_str(out, g.visibility),
            _ => empty(out, e),
        }
    }
}

/// The service plan ids set in `disabled` (bit i = plan i of the SKU), as a JSON array.
fn write_plans(out: &mut Vec<u8>, def: &crate::catalog::SkuDef, disabled: u32) {
    out.push(b'[');
    let mut first = true;
    for (i, plan) in def.plans.iter().enumerate() {
        if disabled & (1 << i) != 0 {
            if !first {
                out.push(b',');
            }
            first = false;
            json::str(out, plan.id);
        }
    }
    out.push(b']');
}
