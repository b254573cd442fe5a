//! `microsoft.graph.group`.

use serde::{Deserialize, Serialize};

use super::null_as_empty;

/// A group in the tenant (`microsoft.graph.group`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Group {
    /// Object id (GUID).
    pub id: String,
    pub display_name: Option<String>,
    /// Read only where selected ([`Group::SELECT_PROVISIONED`]).
    pub mail_nickname: Option<String>,
    /// Read only where selected ([`Group::SELECT_PROVISIONED`]).
    pub description: Option<String>,
    pub mail: Option<String>,
    pub mail_enabled: Option<bool>,
    pub security_enabled: Option<bool>,
    /// `Unified` (Microsoft 365 group), `DynamicMembership`.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub group_types: Vec<String>,
    /// The rule of a dynamic group.
    pub membership_rule: Option<String>,
    /// `On` or `Paused` for dynamic groups.
    pub membership_rule_processing_state: Option<String>,
    /// Mastered in on-premises Active Directory: its members change there, not through Graph.
    /// Read only where selected ([`Group::SELECT_WITH_SOURCE`]).
    pub on_premises_sync_enabled: Option<bool>,
}

/// What a group is, derived as Microsoft documents it from `groupTypes`, `mailEnabled` and
/// `securityEnabled` [learn: graph/api/resources/groups-overview].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum GroupKind {
    /// `groupTypes` contains `Unified`.
    Microsoft365,
    /// Security-enabled, not mail-enabled.
    Security,
    /// Security-enabled and mail-enabled.
    MailEnabledSecurity,
    /// Mail-enabled, not security-enabled.
    Distribution,
    /// A combination Graph does not document.
    Other,
}

impl Group {
    /// The properties of [`Group`] a sync reads.
    pub const SELECT: &'static str = "id,displayName,mail,mailEnabled,securityEnabled,groupTypes,membershipRule,membershipRuleProcessingState";
    /// [`Group::SELECT`] and where the group is mastered (`onPremisesSyncEnabled`): what a job
    /// that changes memberships must know before it tries.
    pub const SELECT_WITH_SOURCE: &'static str = "id,displayName,mail,mailEnabled,securityEnabled,groupTypes,membershipRule,membershipRuleProcessingState,onPremisesSyncEnabled";

    /// What a group provisioning job reads back: [`Group::SELECT_WITH_SOURCE`] with the mail
    /// nickname and the description.
    pub const SELECT_PROVISIONED: &'static str = "id,displayName,mailNickname,description,mail,mailEnabled,securityEnabled,groupTypes,membershipRule,membershipRuleProcessingState,onPremisesSyncEnabled";

    /// What kind of group this is.
    pub fn kind(&self) -> GroupKind {
        let mail = self.mail_enabled.unwrap_or(false);
        let security = self.security_enabled.unwrap_or(false);
        if self.has_type("Unified") {
            GroupKind::Microsoft365
        } else {
            match (security, mail) {
                (true, false) => GroupKind::Security,
                (true, true) => GroupKind::MailEnabledSecurity,
                (false, true) => GroupKind::Distribution,
                (false, false) => GroupKind::Other,
            }
        }
    }

    /// Members follow a rule; they cannot be added or removed by hand.
    pub fn is_dynamic(&self) -> bool {
        self.has_type("DynamicMembership")
    }

    /// Microsoft 365 groups and security groups take members through Graph; mail-enabled security
    /// groups and distribution lists are managed in Exchange, and dynamic groups by their rule.
    pub fn accepts_member_changes(&self) -> bool {
        !self.is_dynamic() && matches!(self.kind(), GroupKind::Microsoft365 | GroupKind::Security)
    }

    fn has_type(&self, wanted: &str) -> bool {
        self.group_types
            .iter()
            .any(|t| t.eq_ignore_ascii_case(wanted))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(types: &[&str], mail: bool, security: bool) -> Group {
        Group {
            id: "g".into(),
            group_types: types.iter().map(|t| (*t).to_owned()).collect(),
            mail_enabled: Some(mail),
            security_enabled: Some(security),
            ..Group::default()
        }
    }

    #[test]
    fn given_group_flags_when_kind_is_derived_then_it_matches_the_documented_table() {
        assert_eq!(
            group(&["Unified"], true, false).kind(),
            GroupKind::Microsoft365
        );
        assert_eq!(group(&[], false, true).kind(), GroupKind::Security);
        assert_eq!(
            group(&[], true, true).kind(),
            GroupKind::MailEnabledSecurity
        );
        assert_eq!(group(&[], true, false).kind(), GroupKind::Distribution);
        let dynamic = group(&["DynamicMembership"], false, true);
        assert!(dynamic.is_dynamic());
        assert!(!dynamic.accepts_member_changes());
        assert!(group(&["Unified"], true, false).accepts_member_changes());
        assert!(!group(&[], true, false).accepts_member_changes());
    }
}
