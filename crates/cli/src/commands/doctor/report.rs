//! The report: one ✓ or ✗ line a check, with the fix and, for permission lines, the role, scope
//! and actions checked.

use imageferry_handlers::calls::Role;
use serde::Serialize;

/// One line of the report.
#[derive(Debug, Serialize)]
pub struct Check {
    /// What was checked.
    pub name: String,
    /// ✓ or ✗.
    pub ok: bool,
    /// What was found.
    pub detail: String,
    /// How to fix it (✗ lines).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
    /// Permission lines: the role of `infra/target/main.bicep` the actions belong to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    /// Permission lines: the scope checked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Permission lines: the actions checked.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub actions: Vec<&'static str>,
    /// Permission lines: the actions missing, each with the call that needs it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub missing: Vec<Missing>,
}

/// An action the pipeline needs and the scope does not grant.
#[derive(Debug, Serialize)]
pub struct Missing {
    /// The RBAC action.
    pub action: &'static str,
    /// The call that needs it.
    pub why: &'static str,
}

/// Every line of one run of the checks.
#[derive(Default, Debug, Serialize)]
pub struct Report {
    /// The lines, in order.
    pub checks: Vec<Check>,
}

impl Report {
    pub(crate) fn ok(&mut self, name: &str, detail: impl Into<String>) {
        self.checks.push(Check {
            name: name.into(),
            ok: true,
            detail: detail.into(),
            fix: None,
            role: None,
            scope: None,
            actions: Vec::new(),
            missing: Vec::new(),
        });
    }
    pub(crate) fn bad(&mut self, name: &str, detail: impl Into<String>, fix: impl Into<String>) {
        self.checks.push(Check {
            name: name.into(),
            ok: false,
            detail: detail.into(),
            fix: Some(fix.into()),
            role: None,
            scope: None,
            actions: Vec::new(),
            missing: Vec::new(),
        });
    }

    /// Whether every line is ✓.
    pub fn all_ok(&self) -> bool {
        self.checks.iter().all(|c| c.ok)
    }

    /// The lines for people: `✓ name: detail`, `✗ name: detail` and `    fix: …`.
    pub fn print_human(&self) {
        for c in &self.checks {
            outln!("{} {}: {}", if c.ok { "✓" } else { "✗" }, c.name, c.detail);
            if let Some(f) = &c.fix {
                outln!("    fix: {f}");
            }
            for m in &c.missing {
                outln!("    {}: {}", m.action, m.why);
            }
        }
    }
}
