//! `imageferry consent-url`: the admin-consent URL of Microsoft's cross-tenant article.

use crate::exit::Exit;
use crate::output::{OutputArgs, print_json, usage_error};
use imageferry_contract::validate::is_guid;

/// Arguments of `consent-url`.
#[derive(clap::Args)]
pub struct Args {
    /// The tenant whose admin consents (tenant 2..n): its id (GUID) or a verified domain
    /// (`contoso.onmicrosoft.com`).
    #[arg(long)]
    tenant: String,
    /// The multi-tenant app registration's client id (default: AZURE_CLIENT_ID).
    #[arg(long, env = "AZURE_CLIENT_ID")]
    app: String,
    #[command(flatten)]
    out: OutputArgs,
}

/// Whether `s` can name a tenant in an authority URL: a GUID or a DNS name with a dot.
pub fn is_tenant(s: &str) -> bool {
    is_guid(s)
        || (s.contains('.')
            && s.len() <= 253
            && s.split('.').all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            }))
}

/// The URL an administrator of `tenant` opens to consent to `app`.
pub fn consent_url(tenant: &str, app: &str) -> String {
    format!(
        "https://login.microsoftonline.com/{tenant}/oauth2/authorize?client_id={app}&response_type=code&redirect_uri=https%3A%2F%2Fwww.microsoft.com%2F"
    )
}

/// Prints the URL.
pub fn run(args: Args) -> Exit {
    let tenant = args.tenant.trim();
    let app = args.app.trim();
    if !is_tenant(tenant) || ["common", "organizations", "consumers"].contains(&tenant) {
        return usage_error(format!(
            "--tenant {tenant:?} is not a tenant id (GUID) or a verified domain such as contoso.onmicrosoft.com"
        ));
    }
    if !is_guid(app) {
        return usage_error(format!(
            "--app {app:?} is not an application (client) id: the app registration's GUID"
        ));
    }
    let url = consent_url(tenant, app);
    if args.out.json() {
        print_json(&serde_json::json!({"tenant": tenant, "app": app, "url": url}));
    } else {
        outln!("{url}");
    }
    Exit::Succeeded
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenants_are_guids_or_domains() {
        assert!(is_tenant("22222222-2222-4222-8222-222222222222"));
        assert!(is_tenant("contoso.onmicrosoft.com"));
        assert!(!is_tenant("contoso"));
        assert!(!is_tenant("2222-2222"));
        assert!(!is_tenant("a/b.com"));
        assert!(!is_tenant("x.com?client_id=evil"));
    }
}
