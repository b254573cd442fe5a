//! The Microsoft Graph application permissions each connection mode needs (least privilege), and
//! the per-permission report made from an access token's `roles` claim.
//!
//! Read-only: what a sync and a license refresh read. Read/write: the same plus what the lifecycle
//! jobs write (create, block, delete/restore, revoke sessions, licenses, memberships). A broader
//! permission the tenant granted instead (say `Directory.Read.All` for `User.Read.All`, or a
//! customer's own app holding `User.ReadWrite.All`) counts as granted.

use lifecycle::model::{ConnectionMode, SyncOptions};
pub use lifecycle::model::{Grant, OptionCheck, PermissionCheck};

/// One application permission the product asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Permission {
    /// The application permission (app role) name, e.g. `User.Read.All`.
    pub name: &'static str,
    /// What the product does with it, in a person's words.
    pub needed_for: &'static str,
    /// Without a required permission the connection is refused; without an optional one the
    /// feature it serves is skipped (and the report says so).
    pub required: bool,
    /// Broader permissions that include this one.
    pub included_in: &'static [&'static str],
}

/// What a read-only connection needs.
pub const READ_PERMISSIONS: &[Permission] = &[
    Permission {
        name: "User.Read.All",
        needed_for: "read accounts",
        required: true,
        included_in: &[
            "User.ReadWrite.All",
            "Directory.Read.All",
            "Directory.ReadWrite.All",
        ],
    },
    Permission {
        name: "Group.Read.All",
        needed_for: "read groups",
        required: true,
        included_in: &[
            "Group.ReadWrite.All",
            "Directory.Read.All",
            "Directory.ReadWrite.All",
        ],
    },
    Permission {
        name: "GroupMember.Read.All",
        needed_for: "read group memberships",
        required: true,
        included_in: &[
            "GroupMember.ReadWrite.All",
            "Group.Read.All",
            "Group.ReadWrite.All",
            "Directory.Read.All",
            "Directory.ReadWrite.All",
        ],
    },
    Permission {
        name: "Organization.Read.All",
        needed_for: "read the organization and its subscribed SKUs (licenses)",
        required: true,
        included_in: &[
            "Organization.ReadWrite.All",
            "Directory.Read.All",
            "Directory.ReadWrite.All",
        ],
    },
    Permission {
        name: "Domain.Read.All",
        needed_for: "read the verified domains",
        required: true,
        included_in: &[
            "Domain.ReadWrite.All",
            "Directory.Read.All",
            "Directory.ReadWrite.All",
        ],
    },
    Permission {
        name: "Reports.Read.All",
        needed_for: "read mailbox usage (skipped without it)",
        required: false,
        included_in: &[],
    },
    Permission {
        name: "AuditLog.Read.All",
        needed_for: "read last sign-in per account (skipped without it; also needs Entra ID P1)",
        required: false,
        included_in: &[],
    },
    Permission {
        name: "DelegatedAdminRelationship.Read.All",
        needed_for: "list a partner's customer tenants (GDAP; partners only)",
        required: false,
        included_in: &["DelegatedAdminRelationship.ReadWrite.All"],
    },
];

/// What a read/write connection needs besides [`READ_PERMISSIONS`].
pub const WRITE_PERMISSIONS: &[Permission] = &[
    Permission {
        name: "User.ReadWrite.All",
        needed_for: "create accounts and update their profile",
        required: true,
        included_in: &["Directory.ReadWrite.All"],
    },
    Permission {
        name: "User.EnableDisableAccount.All",
        needed_for: "block sign-in when offboarding",
        required: true,
        included_in: &["User.ReadWrite.All", "Directory.ReadWrite.All"],
    },
    Permission {
        name: "User.DeleteRestore.All",
        needed_for: "delete and restore accounts",
        required: true,
        included_in: &["User.ReadWrite.All"],
    },
    Permission {
        name: "User.RevokeSessions.All",
        needed_for: "revoke sign-in sessions when offboarding",
        required: true,
        included_in: &["User.ReadWrite.All", "Directory.ReadWrite.All"],
    },
    Permission {
        name: "LicenseAssignment.ReadWrite.All",
        needed_for: "assign and remove licenses",
        required: true,
        included_in: &["User.ReadWrite.All", "Directory.ReadWrite.All"],
    },
    Permission {
        name: "GroupMember.ReadWrite.All",
        needed_for: "add and remove group memberships",
        required: true,
        included_in: &["Group.ReadWrite.All", "Directory.ReadWrite.All"],
    },
    Permission {
        name: "Group.ReadWrite.All",
        needed_for: "group provisioning jobs: create, rename and delete groups (refused by Graph without it)",
        required: false,
        included_in: &["Directory.ReadWrite.All"],
    },
    Permission {
        name: "UserAuthenticationMethod.ReadWrite.All",
        needed_for: "onboarding with a Temporary Access Pass (passwordless joiners; Graph refuses the pass without it) and offboard option remove_authentication_methods (skipped without it)",
        required: false,
        included_in: &[],
    },
    Permission {
        name: "AppRoleAssignment.ReadWrite.All",
        needed_for: "offboard option remove_app_role_assignments (skipped without it)",
        required: false,
        included_in: &[],
    },
    Permission {
        name: "DelegatedPermissionGrant.ReadWrite.All",
        needed_for: "offboard option remove_permission_grants (skipped without it)",
        required: false,
        included_in: &[],
    },
    Permission {
        name: "MailboxSettings.ReadWrite",
        needed_for: "offboard option automatic_reply (skipped without it)",
        required: false,
        included_in: &[],
    },
];

/// The offboard job's opt-in options, each with the permission Graph asks for.
pub const OFFBOARD_OPTIONS: [(&str, &str); 4] = [
    (
        "remove_authentication_methods",
        "UserAuthenticationMethod.ReadWrite.All",
    ),
    (
        "remove_app_role_assignments",
        "AppRoleAssignment.ReadWrite.All",
    ),
    (
        "remove_permission_grants",
        "DelegatedPermissionGrant.ReadWrite.All",
    ),
    ("automatic_reply", "MailboxSettings.ReadWrite"),
];

/// Which offboard options the granted permissions allow (none in a read-only connection).
pub fn offboard_options(mode: ConnectionMode, report: &[PermissionCheck]) -> Vec<OptionCheck> {
    OFFBOARD_OPTIONS
        .iter()
        .map(|&(option, permission)| OptionCheck {
            option,
            permission,
            possible: mode == ConnectionMode::ReadWrite && is_granted(report, permission),
        })
        .collect()
}

/// Every permission a connection in `mode` asks for, read ones first.
pub fn for_mode(mode: ConnectionMode) -> impl Iterator<Item = &'static Permission> {
    let write: &[Permission] = match mode {
        ConnectionMode::Read => &[],
        ConnectionMode::ReadWrite => WRITE_PERMISSIONS,
    };
    READ_PERMISSIONS.iter().chain(write)
}

/// The report of every permission `mode` needs against the granted `roles`.
pub fn check(mode: ConnectionMode, roles: &[String]) -> Vec<PermissionCheck> {
    let has = |name: &str| roles.iter().any(|role| role.eq_ignore_ascii_case(name));
    for_mode(mode)
        .map(|permission| {
            let through = if has(permission.name) {
                None
            } else {
                permission
                    .included_in
                    .iter()
                    .find(|broader| has(broader))
                    .map(|broader| (*broader).to_owned())
            };
            let granted = has(permission.name) || through.is_some();
            PermissionCheck {
                permission: permission.name,
                needed_for: permission.needed_for,
                required: permission.required,
                status: if granted {
                    Grant::Granted
                } else {
                    Grant::Missing
                },
                granted_through: through,
            }
        })
        .collect()
}

/// The required permissions that are missing.
pub fn missing_required(report: &[PermissionCheck]) -> Vec<&'static str> {
    report
        .iter()
        .filter(|line| line.required && !line.is_granted())
        .map(|line| line.permission)
        .collect()
}

/// Whether `permission` is granted according to `report`.
pub fn is_granted(report: &[PermissionCheck], permission: &str) -> bool {
    report
        .iter()
        .any(|line| line.permission == permission && line.is_granted())
}

/// What a sync reads given the report and whether the tenant has Entra ID P1: mailbox usage only
/// with Reports.Read.All, last sign-in only with AuditLog.Read.All and P1.
pub fn sync_options(report: &[PermissionCheck], has_p1: Option<bool>) -> SyncOptions {
    SyncOptions {
        skip_mailboxes: !is_granted(report, "Reports.Read.All"),
        skip_sign_in: !is_granted(report, "AuditLog.Read.All") || has_p1 == Some(false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roles(names: &[&str]) -> Vec<String> {
        names.iter().map(|name| (*name).to_owned()).collect()
    }

    #[test]
    fn given_the_read_set_when_checked_for_read_then_everything_is_granted() {
        let granted: Vec<String> = READ_PERMISSIONS.iter().map(|p| p.name.to_owned()).collect();
        let report = check(ConnectionMode::Read, &granted);
        assert_eq!(report.len(), READ_PERMISSIONS.len());
        assert!(report.iter().all(PermissionCheck::is_granted));
        assert!(missing_required(&report).is_empty());
    }

    #[test]
    fn given_only_read_roles_when_checked_for_read_write_then_each_write_permission_is_missing() {
        let granted: Vec<String> = READ_PERMISSIONS.iter().map(|p| p.name.to_owned()).collect();
        let report = check(ConnectionMode::ReadWrite, &granted);
        let missing = missing_required(&report);
        let expected: Vec<&str> = WRITE_PERMISSIONS
            .iter()
            .filter(|p| p.required)
            .map(|p| p.name)
            .collect();
        assert_eq!(missing, expected);
        assert!(
            offboard_options(ConnectionMode::ReadWrite, &report)
                .iter()
                .all(|o| !o.possible)
        );
    }

    #[test]
    fn given_the_authentication_method_permission_only_when_checked_then_that_option_alone_is_possible()
     {
        // GIVEN a read/write grant with UserAuthenticationMethod.ReadWrite.All but none of the
        // other options' permissions
        let mut granted: Vec<String> = READ_PERMISSIONS
            .iter()
            .chain(WRITE_PERMISSIONS.iter().filter(|p| p.required))
            .map(|p| p.name.to_owned())
            .collect();
        granted.push("UserAuthenticationMethod.ReadWrite.All".into());
        // WHEN checked
        let report = check(ConnectionMode::ReadWrite, &granted);
        // THEN the connection is usable, and only remove_authentication_methods is possible
        assert!(missing_required(&report).is_empty());
        let possible: Vec<&str> = offboard_options(ConnectionMode::ReadWrite, &report)
            .into_iter()
            .filter(|o| o.possible)
            .map(|o| o.option)
            .collect();
        assert_eq!(possible, ["remove_authentication_methods"]);
        // ... and none in a read-only connection
        assert!(
            offboard_options(ConnectionMode::Read, &report)
                .iter()
                .all(|o| !o.possible)
        );
    }

    #[test]
    fn given_broader_permissions_when_checked_then_they_count_and_the_report_says_through_what() {
        let report = check(
            ConnectionMode::ReadWrite,
            &roles(&["Directory.ReadWrite.All", "User.ReadWrite.All"]),
        );
        let line = |name: &str| {
            report
                .iter()
                .find(|line| line.permission == name)
                .cloned()
                .unwrap()
        };
        assert_eq!(
            line("User.Read.All").granted_through.as_deref(),
            Some("User.ReadWrite.All")
        );
        assert_eq!(
            line("Group.Read.All").granted_through.as_deref(),
            Some("Directory.ReadWrite.All")
        );
        assert_eq!(line("User.ReadWrite.All").granted_through, None);
        assert!(line("User.ReadWrite.All").is_granted());
        // Reports and sign-in logs are not part of the directory permissions.
        assert_eq!(line("Reports.Read.All").status, Grant::Missing);
        assert!(missing_required(&report).is_empty());
    }

    #[test]
    fn given_no_reports_permission_or_no_p1_when_options_made_then_those_parts_are_skipped() {
        let all: Vec<String> = READ_PERMISSIONS.iter().map(|p| p.name.to_owned()).collect();
        let full = check(ConnectionMode::Read, &all);
        assert_eq!(sync_options(&full, Some(true)), SyncOptions::default());
        assert!(sync_options(&full, Some(false)).skip_sign_in);
        let without_reports: Vec<String> = all
            .iter()
            .filter(|name| *name != "Reports.Read.All")
            .cloned()
            .collect();
        let options = sync_options(&check(ConnectionMode::Read, &without_reports), Some(true));
        assert!(options.skip_mailboxes && !options.skip_sign_in);
    }

    #[test]
    fn given_role_names_in_other_case_when_checked_then_they_match() {
        let report = check(ConnectionMode::Read, &roles(&["user.read.all"]));
        assert!(report[0].is_granted());
    }
}
