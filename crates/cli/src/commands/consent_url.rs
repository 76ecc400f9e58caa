//! `imageferry consent-url`: the admin-consent URL of Microsoft's cross-tenant article.

use crate::exit::Exit;

/// Arguments of `consent-url`.
#[derive(clap::Args)]
pub struct Args {
    /// The tenant whose admin consents (tenant 2..n).
    #[arg(long)]
    tenant: String,
    /// The multi-tenant app registration's client id (default: AZURE_CLIENT_ID).
    #[arg(long, env = "AZURE_CLIENT_ID")]
    app: String,
}

/// Prints the URL.
pub fn run(args: Args) -> Exit {
    println!(
        "https://login.microsoftonline.com/{}/oauth2/authorize?client_id={}&response_type=code&redirect_uri=https%3A%2F%2Fwww.microsoft.com%2F",
        args.tenant, args.app
    );
    Exit::Succeeded
}
