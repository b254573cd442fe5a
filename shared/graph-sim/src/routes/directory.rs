//! GET /organization, /domains, /subscribedSkus, /tenantRelationships/delegatedAdminCustomers,
//! /reports/getMailboxUsageDetail (302 to a CSV download served by the simulator).

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::http::{self, Resp};
use crate::json;
use crate::routes::Cx;

const READ_ORG: &[&str] = &[
    "Organization.Read.All",
    "Organization.ReadWrite.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
];

/// Keeps only `id` and the selected properties of small entities built as JSON values.
fn select(cx: &Cx<'_>, mut v: Value, type_name: &str) -> Result<Value, Resp> {
    let Some(names) = &cx.q.select else {
        return Ok(v);
    };
    if let Value::Object(map) = &mut v {
        for n in names {
            if !n.is_empty() && !map.contains_key(n.as_str()) {
                return Err(http::bad_request(
                    cx.ids,
                    &format!(
                        "Could not find a property named '{n}' on type 'microsoft.graph.{type_name}'."
                    ),
                ));
            }
        }
        map.retain(|k, _| k == "id" || names.iter().any(|n| n == k));
    }
    Ok(v)
}

fn values(cx: &Cx<'_>, context: &str, items: Vec<Value>) -> Resp {
    let body = json!({
        "@odata.context": cx.context(context),
        "value": items,
    });
    Resp::value(StatusCode::OK, &body)
}

/// GET /organization
pub(crate) fn organization(cx: &Cx<'_>) -> Result<Resp, Resp> {
    cx.require(READ_ORG)?;
    let t = cx.read();
    let verified: Vec<Value> = t
        .domains
        .iter()
        .filter(|d| d.is_verified)
        .map(|d| {
            json!({
                "capabilities": if d.is_initial { "Email, OfficeCommunicationsOnline" } else { "Email, OfficeCommunicationsOnline, MoeraDomain" },
                "isDefault": d.is_default,
                "isInitial": d.is_initial,
                "name": d.name,
                "type": "Managed",
            })
        })
        .collect();
    let synced = t.users.iter().any(|u| u.on_prem);
    let org = json!({
        "id": t.id.to_string(),
        "deletedDateTime": null,
        "assignedPlans": [],
        "businessPhones": ["+1 425 555 0100"],
        "city": t.city,
        "country": null,
        "countryLetterCode": t.country,
        "createdDateTime": json::iso(t.created),
        "defaultUsageLocation": t.country,
        "displayName": &*t.display_name,
        "marketingNotificationEmails": [],
        "mobileDeviceManagementAuthority": "intune",
        "onPremisesLastSyncDateTime": if synced { Value::String(json::iso(cx.sim.started - 1800)) } else { Value::Null },
        "onPremisesSyncEnabled": if synced { Value::Bool(true) } else { Value::Null },
        "postalCode": "98052",
        "preferredLanguage": "en",
        "privacyProfile": null,
        "provisionedPlans": [],
        "securityComplianceNotificationMails": [],
        "securityComplianceNotificationPhones": [],
        "state": null,
        "street": "1 Microsoft Way",
        "technicalNotificationMails": [format!("admin@{}", t.initial_domain())],
        "tenantType": "AAD",
        "verifiedDomains": verified,
    });
    Ok(values(
        cx,
        "organization",
        vec![select(cx, org, "organization")?],
    ))
}

/// GET /domains
pub(crate) fn domains(cx: &Cx<'_>) -> Result<Resp, Resp> {
    cx.require(&[
        "Domain.Read.All",
        "Domain.ReadWrite.All",
        "Directory.Read.All",
        "Directory.ReadWrite.All",
    ])?;
    let t = cx.read();
    let mut items = Vec::new();
    for d in &t.domains {
        let v = json!({
            "id": d.name,
            "authenticationType": "Managed",
            "availabilityStatus": null,
            "isAdminManaged": true,
            "isDefault": d.is_default,
            "isInitial": d.is_initial,
            "isRoot": true,
            "isVerified": d.is_verified,
            "manufacturer": null,
            "model": null,
            "passwordNotificationWindowInDays": 14,
            "passwordValidityPeriodInDays": 2147483647,
            "state": null,
            "supportedServices": if d.is_verified { json!(["Email", "OfficeCommunicationsOnline"]) } else { json!([]) },
        });
        items.push(select(cx, v, "domain")?);
    }
    Ok(values(cx, "domains", items))
}

/// GET /subscribedSkus
pub(crate) fn subscribed_skus(cx: &Cx<'_>) -> Result<Resp, Resp> {
    cx.require(READ_ORG)?;
    let t = cx.read();
    let mut items = Vec::new();
    for s in &t.skus {
        let plans: Vec<Value> = s
            .def
            .plans
            .iter()
            .map(|p| {
                json!({
                    "appliesTo": "User",
                    "provisioningStatus": "Success",
                    "servicePlanId": p.id,
                    "servicePlanName": p.name,
                })
            })
            .collect();
        let v = json!({
            "id": format!("{}_{}", t.id, s.def.sku_id),
            "accountId": s.account_id.to_string(),
            "accountName": &*t.display_name,
            "appliesTo": "User",
            "capabilityStatus": s.capability_status,
            "consumedUnits": s.consumed,
            "prepaidUnits": {
                "enabled": s.enabled,
                "lockedOut": 0,
                "suspended": s.suspended,
                "warning": s.warning,
            },
            "servicePlans": plans,
            "skuId": s.def.sku_id,
            "skuPartNumber": s.def.part_number,
            "subscriptionIds": [s.subscription_id.to_string()],
        });
        items.push(select(cx, v, "subscribedSku")?);
    }
    Ok(values(cx, "subscribedSkus", items))
}

/// GET /tenantRelationships/delegatedAdminCustomers
pub(crate) fn delegated_admin_customers(cx: &Cx<'_>) -> Result<Resp, Resp> {
    cx.require(&[
        "DelegatedAdminRelationship.Read.All",
        "DelegatedAdminRelationship.ReadWrite.All",
    ])?;
    let t = cx.read();
    let mut items = Vec::new();
    for (id, name) in &t.customers {
        let v = json!({
            "id": id.to_string(),
            "displayName": &**name,
            "tenantId": id.to_string(),
        });
        items.push(select(cx, v, "delegatedAdminCustomer")?);
    }
    Ok(values(
        cx,
        "tenantRelationships/delegatedAdminCustomers",
        items,
    ))
}

/// GET /reports/getMailboxUsageDetail(period='D30'): 302 to a short-lived download URL.
pub(crate) fn mailbox_usage(cx: &Cx<'_>, period: &str) -> Result<Resp, Resp> {
    cx.require(&["Reports.Read.All"])?;
    if !matches!(period, "D7" | "D30" | "D90" | "D180") {
        return Err(http::bad_request(
            cx.ids,
            &format!(
                "Invalid value '{period}' for parameter 'period'. Allowed values: D7, D30, D90, D180."
            ),
        ));
    }
    let tid = &cx.sim.tenants[cx.caller.tenant].id_str;
    let location = format!(
        "{}/_sim/downloads/{tid}/mailboxUsageDetail/{period}.csv",
        cx.sim.origin
    );
    Ok(Resp::empty(StatusCode::FOUND).header("location", location))
}

/// The CSV behind the report download, with Microsoft's columns (UTF-8 with BOM, like the
/// real download).
pub(crate) fn mailbox_usage_csv(t: &crate::state::Tenant, period: &str, started: i64) -> String {
    let days: i64 = period.trim_start_matches('D').parse().unwrap_or(30);
    let refresh = json::day(started - 2 * 86_400);
    let mut out = String::from(
        "\u{feff}Report Refresh Date,User Principal Name,Display Name,Is Deleted,Deleted Date,Created Date,Last Activity Date,Item Count,Storage Used (Byte),Issue Warning Quota (Byte),Prohibit Send Quota (Byte),Prohibit Send/Receive Quota (Byte),Deleted Item Count,Deleted Item Size (Byte),Deleted Item Quota (Byte),Has Archive,Report Period\n",
    );
    for u in &t.users {
        let mailbox = u
            .assigned_skus()
            .any(|s| t.skus[s as usize].def.plans.iter().any(|p| p.exchange));
        if !mailbox {
            continue;
        }
        let h = u.id.as_u128();
        let items = (h % 40_000) as i64 + 50;
        let storage = items * 75_000 + (h >> 20) as i64 % 1_000_000;
        let (upn, name) = if t.conceal_names {
            let hidden = format!("{:032X}", h);
            (hidden.clone(), hidden)
        } else {
            (u.upn.to_string(), u.display_name.to_string())
        };
        let last_activity = u
            .sign_in
            .filter(|s| s.last > started - days * 86_400)
            .map(|s| json::day(s.last))
            .unwrap_or_default();
        let deleted = u.deleted_at.map(json::day);
        out.push_str(&format!(
            "{refresh},{upn},{},{},{},{},{last_activity},{items},{storage},105226698752,106300440576,107374182400,{},{},32212254720,{},{days}\n",
            csv_field(&name),
            if deleted.is_some() { "True" } else { "False" },
            deleted.unwrap_or_default(),
            json::day(u.created),
            items / 20,
            storage / 25,
            if h % 5 == 0 { "True" } else { "False" },
        ));
    }
    out
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// GET /admin/reportSettings (whether usage reports conceal user names)
pub(crate) fn report_settings(cx: &Cx<'_>) -> Result<Resp, Resp> {
    cx.require(&[
        "ReportSettings.Read.All",
        "ReportSettings.ReadWrite.All",
        "Reports.Read.All",
    ])?;
    let t = cx.read();
    let v = json!({
        "@odata.context": cx.context("admin/reportSettings/$entity"),
        "id": "reportSettings",
        "displayConcealedNames": t.conceal_names,
    });
    Ok(Resp::value(StatusCode::OK, &v))
}

/// PATCH /admin/reportSettings `{"displayConcealedNames": bool}`
pub(crate) fn patch_report_settings(cx: &Cx<'_>) -> Result<Resp, Resp> {
    cx.require(&["ReportSettings.ReadWrite.All"])?;
    let v: Value = serde_json::from_slice(cx.body).unwrap_or(Value::Null);
    let Some(conceal) = v["displayConcealedNames"].as_bool() else {
        return Err(http::bad_request(
            cx.ids,
            "Invalid value specified for property 'displayConcealedNames' of resource 'adminReportSettings'.",
        ));
    };
    cx.write().conceal_names = conceal;
    Ok(Resp::empty(StatusCode::NO_CONTENT))
}
