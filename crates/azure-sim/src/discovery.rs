//! What clients read before they ask for a token or call ARM: Entra's OpenID Connect discovery
//! document, MSAL's instance discovery, the (empty) signing keys, and ARM's cloud metadata
//! (`/metadata/endpoints`, which `az cloud register --endpoint-resource-manager` reads). Every
//! URL in them points back at the listener the request came in on.
//!
//! Shapes: `https://login.microsoftonline.com/{tenant}/v2.0/.well-known/openid-configuration`
//! (OpenID Connect Discovery 1.0 §3 plus Entra's `tenant_region_scope`, `cloud_instance_name`,
//! `msgraph_host`, `rbac_url`, as Entra serves it; learn.microsoft.com/entra/identity-platform
//! "OpenID Connect on the Microsoft identity platform", "Find your app's OpenID configuration
//! document URI"); MSAL's instance discovery answer (`tenant_discovery_endpoint`,
//! `api-version`, `metadata[{preferred_network, preferred_cache, aliases}]`, as msal's
//! `authority.py` reads it); ARM `GET /metadata/endpoints?api-version=2022-09-01` (one cloud
//! object: `portal`, `authentication{loginEndpoint, audiences, tenant, identityProvider}`,
//! `resourceManager`, `suffixes{keyVaultDns, storage, …}`, … as azure-cli's
//! `_arm_to_cli_mapper` reads it; `2019-05-01` returns an array of clouds).
//! The stand-in signs with HS256 (see the README), so `jwks_uri` lists no keys.

use http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::entra::aad_error;
use crate::http::{Reply, Req};
use crate::sim::Sim;

/// The tenant a discovery path names: a scenario tenant id, or `common` / `organizations`.
fn known_tenant(sim: &Sim, tenant: &str) -> Option<String> {
    if ["common", "organizations"]
        .iter()
        .any(|t| t.eq_ignore_ascii_case(tenant))
    {
        return Some("{tenantid}".to_owned());
    }
    sim.scenario.tenant(tenant).map(|t| t.id.clone())
}

fn tenant_not_found(tenant: &str) -> Reply {
    aad_error(
        StatusCode::BAD_REQUEST,
        "invalid_tenant",
        90002,
        &format!(
            "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant."
        ),
    )
}

/// `GET /{tenant}/v2.0/.well-known/openid-configuration`.
pub(crate) fn openid_configuration(sim: &Sim, req: &Req, tenant: &str) -> Reply {
    let Some(tid) = known_tenant(sim, tenant) else {
        return tenant_not_found(tenant);
    };
    let base = req.base.trim_end_matches('/');
    let host = host_of(base);
    let t = if tid == "{tenantid}" {
        tenant.to_owned()
    } else {
        tid.clone()
    };
    Reply::json(
        StatusCode::OK,
        json!({
            "token_endpoint": format!("{base}/{t}/oauth2/v2.0/token"),
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "jwks_uri": format!("{base}/{t}/discovery/v2.0/keys"),
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": format!("{base}/{tid}/v2.0"),
            "request_uri_parameter_supported": false,
            "userinfo_endpoint": "https://graph.microsoft.com/oidc/userinfo",
            "authorization_endpoint": format!("{base}/{t}/oauth2/v2.0/authorize"),
            "device_authorization_endpoint": format!("{base}/{t}/oauth2/v2.0/devicecode"),
            "http_logout_supported": true,
            "frontchannel_logout_supported": true,
            "end_session_endpoint": format!("{base}/{t}/oauth2/v2.0/logout"),
            "claims_supported": ["sub", "iss", "cloud_instance_name", "cloud_instance_host_name", "cloud_graph_host_name", "msgraph_host", "aud", "exp", "iat", "auth_time", "acr", "nonce", "preferred_username", "name", "tid", "ver", "at_hash", "c_hash", "email"],
            "kerberos_endpoint": format!("{base}/{t}/kerberos"),
            "tenant_region_scope": "NA",
            "cloud_instance_name": host,
            "cloud_graph_host_name": "graph.windows.net",
            "msgraph_host": "graph.microsoft.com",
            "rbac_url": "https://pas.windows.net"
        }),
    )
}

/// `GET /{tenant}/discovery/v2.0/keys`: the stand-in's tokens are HS256, so no public keys.
pub(crate) fn keys(sim: &Sim, tenant: &str) -> Reply {
    if known_tenant(sim, tenant).is_none() {
        return tenant_not_found(tenant);
    }
    Reply::json(StatusCode::OK, json!({"keys": []}))
}

/// `GET /common/discovery/instance?api-version=1.1&authorization_endpoint=…` (MSAL's
/// instance discovery): the stand-in is its own cloud instance.
pub(crate) fn instance(sim: &Sim, req: &Req) -> Reply {
    let Some(endpoint) = req.query("authorization_endpoint") else {
        return aad_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            900144,
            "The request body must contain the following parameter: 'authorization_endpoint'.",
        );
    };
    let base = req.base.trim_end_matches('/');
    // MSAL names the authority by host without its port; the stand-in is that host.
    let parsed = url::Url::parse(endpoint).ok();
    let ours = url::Url::parse(base)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned));
    let same_host = parsed.as_ref().and_then(|u| u.host_str()).is_some_and(|h| {
        Some(h.to_ascii_lowercase()) == ours.as_ref().map(|o| o.to_ascii_lowercase())
    });
    if !same_host {
        return Reply::json(
            StatusCode::BAD_REQUEST,
            json!({"error": "invalid_instance", "error_description": format!("AADSTS50049: Unknown or invalid instance. The authority {endpoint} is not served by this instance ({base}).")}),
        );
    }
    let tenant = parsed
        .as_ref()
        .and_then(|u| {
            u.path_segments()
                .and_then(|mut s| s.next().map(str::to_owned))
        })
        .unwrap_or_default();
    if known_tenant(sim, &tenant).is_none() {
        return tenant_not_found(&tenant);
    }
    let host = host_of(base);
    Reply::json(
        StatusCode::OK,
        json!({
            "tenant_discovery_endpoint": format!("{base}/{tenant}/v2.0/.well-known/openid-configuration"),
            "api-version": req.query("api-version").unwrap_or("1.1"),
            "metadata": [{"preferred_network": host, "preferred_cache": host, "aliases": [host]}]
        }),
    )
}

/// `GET /metadata/endpoints?api-version=…`.
pub(crate) fn metadata_endpoints(req: &Req) -> Reply {
    if req.method != Method::GET {
        return Reply::arm_error(
            StatusCode::METHOD_NOT_ALLOWED,
            "HttpMethodNotSupported",
            format!(
                "The requested resource does not support http method '{}'.",
                req.method
            ),
        );
    }
    let version = req.query("api-version").unwrap_or_default();
    let cloud = cloud(req);
    match version {
        "2022-09-01" => Reply::json(StatusCode::OK, cloud),
        "2019-05-01" | "2018-01-01" => Reply::json(StatusCode::OK, Value::Array(vec![cloud])),
        "" => Reply::arm_error(
            StatusCode::BAD_REQUEST,
            "MissingApiVersionParameter",
            "The api-version query parameter (?api-version=) is required for all requests.",
        ),
        other => Reply::arm_error(
            StatusCode::BAD_REQUEST,
            "InvalidApiVersionParameter",
            format!(
                "The api-version '{other}' is invalid. The supported versions are '2022-09-01,2019-05-01,2018-01-01'."
            ),
        ),
    }
}

/// The stand-in as a cloud: Entra and ARM at this listener, Key Vault at `{vault}.vault.localhost`.
fn cloud(req: &Req) -> Value {
    let base = format!("{}/", req.base.trim_end_matches('/'));
    json!({
        "portal": base,
        "authentication": {
            "loginEndpoint": base,
            "audiences": ["https://management.core.windows.net/", "https://management.azure.com/"],
            "tenant": "common",
            "identityProvider": "AAD"
        },
        "media": base,
        "graphAudience": "https://graph.windows.net/",
        "graph": "https://graph.windows.net/",
        "name": "AzureCloud",
        "suffixes": {
            "azureDataLakeStoreFileSystem": "azuredatalakestore.net",
            "acrLoginServer": "azurecr.io",
            "sqlServerHostname": "database.windows.net",
            "azureDataLakeAnalyticsCatalogAndJob": "azuredatalakeanalytics.net",
            "keyVaultDns": "vault.localhost",
            "storage": "core.windows.net",
            "azureFrontDoorEndpointSuffix": "azurefd.net",
            "storageSyncEndpointSuffix": "afs.azure.net",
            "mhsmDns": "managedhsm.azure.net",
            "mysqlServerEndpoint": "mysql.database.azure.com",
            "postgresqlServerEndpoint": "postgres.database.azure.com",
            "mariadbServerEndpoint": "mariadb.database.azure.com",
            "synapseAnalytics": "dev.azuresynapse.net",
            "attestationEndpoint": "attest.azure.net"
        },
        "batch": "https://batch.core.windows.net/",
        "resourceManager": base,
        "vmImageAliasDoc": "https://raw.githubusercontent.com/Azure/azure-rest-api-specs/main/arm-compute/quickstart-templates/aliases.json",
        "activeDirectoryDataLake": "https://datalake.azure.net/",
        "sqlManagement": "https://management.core.windows.net:8443/",
        "microsoftGraphResourceId": "https://graph.microsoft.com/",
        "appInsightsResourceId": "https://api.applicationinsights.io",
        "appInsightsTelemetryChannelResourceId": "https://dc.applicationinsights.azure.com/v2/track",
        "attestationResourceId": "https://attest.azure.net",
        "synapseAnalyticsResourceId": "https://dev.azuresynapse.net",
        "logAnalyticsResourceId": "https://api.loganalytics.io",
        "ossrDbmsResourceId": "https://ossrdbms-aad.database.windows.net"
    })
}

fn host_of(base: &str) -> String {
    base.split("://")
        .nth(1)
        .unwrap_or(base)
        .trim_end_matches('/')
        .to_owned()
}
