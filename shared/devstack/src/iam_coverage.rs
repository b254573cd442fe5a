//! Is each function's IAM policy minimal and sufficient? Sufficient: every function's code runs
//! on the local stack under exactly its policy (an action missing fails a test with
//! `AccessDenied`). Minimal: with `LOCAL_AWS_IAM_LOG` set, the local stack records every action a
//! function's credentials used successfully (`local_aws::usage`); [`coverage`] compares those
//! with the actions its policy grants, and `devstack iam-coverage <file>` (`make iam-coverage`)
//! fails when a granted action was used by no test.

use std::collections::BTreeSet;

use crate::Template;

/// What one function's tests used of its policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Coverage {
    /// The function's logical id in the template.
    pub function: String,
    /// Granted actions some test used.
    pub used: Vec<String>,
    /// Granted actions no test used: dead weight in the policy, or code no test reaches.
    pub unused: Vec<String>,
}

/// Each function's coverage, from `log` (lines `{principal}\t{action}`; a function's principal
/// is `{stack name}-{logical id}`). IAM action names compare case-insensitively.
pub fn coverage(template: &Template, log: &str) -> Vec<Coverage> {
    let seen: Vec<(&str, String)> = log
        .lines()
        .filter_map(|line| line.split_once('\t'))
        .map(|(principal, action)| (principal, action.trim().to_ascii_lowercase()))
        .collect();
    template
        .functions
        .iter()
        .map(|function| {
            let suffix = format!("-{}", function.logical_id);
            let used_by_it: BTreeSet<&str> = seen
                .iter()
                .filter(|(principal, _)| principal.ends_with(&suffix))
                .map(|(_, action)| action.as_str())
                .collect();
            let granted: BTreeSet<&str> = function
                .policy
                .iter()
                .filter(|statement| statement.effect == "Allow")
                .flat_map(|statement| statement.actions.iter().map(String::as_str))
                .collect();
            let (used, unused): (Vec<&str>, Vec<&str>) = granted
                .into_iter()
                .partition(|action| used_by_it.contains(action.to_ascii_lowercase().as_str()));
            Coverage {
                function: function.logical_id.clone(),
                used: used.into_iter().map(str::to_owned).collect(),
                unused: unused.into_iter().map(str::to_owned).collect(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_a_log_that_misses_one_granted_action_when_covered_then_that_action_is_reported_unused()
    {
        // GIVEN the real template, and a log where the onboarding function used every action
        // of its policy but one, and another function used that one
        let template = crate::Template::load(&crate::template_path()).expect("the real template");
        let onboarding = template
            .function("OnboardingFunction")
            .expect("the onboarding function");
        let granted: BTreeSet<String> = onboarding
            .policy
            .iter()
            .flat_map(|statement| statement.actions.clone())
            .collect();
        let left_out = "secretsmanager:ListSecrets";
        assert!(granted.iter().any(|action| action == left_out));
        let mut log: String = granted
            .iter()
            .filter(|action| action.as_str() != left_out)
            .map(|action| format!("m365-lifecycle-OnboardingFunction\t{action}\n"))
            .collect();
        log.push_str(&format!("m365-lifecycle-ApiFunction\t{left_out}\n"));

        // WHEN its coverage is computed
        let report = coverage(&template, &log);

        // THEN exactly that action is unused by the onboarding function
        let onboarding = report
            .iter()
            .find(|c| c.function == "OnboardingFunction")
            .expect("covered");
        assert_eq!(onboarding.unused, [left_out]);
        assert_eq!(onboarding.used.len(), granted.len() - 1);
    }
}
