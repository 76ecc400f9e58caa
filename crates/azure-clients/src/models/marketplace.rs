//! `Microsoft.MarketplaceOrdering`: whether a subscription accepted the terms of a Marketplace
//! plan (`MarketplaceAgreements_Get`, 2021-01-01; reference/arm/examples/marketplaceordering/
//! GetMarketplaceTerms.json). `az vm image terms accept` sets `accepted`.

use super::Plan;
use imageferry_contract::ResourceId;
use serde::{Deserialize, Serialize};

/// API version of `Microsoft.MarketplaceOrdering` (stable).
pub const MARKETPLACE_ORDERING_API: &str = "2021-01-01";

/// The terms agreement of one plan in one subscription.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct MarketplaceAgreement {
    /// Resource id (read-only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The plan id (read-only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Resource type (read-only).
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub resource_type: Option<String>,
    /// Properties.
    pub properties: MarketplaceAgreementProperties,
}

/// `AgreementProperties`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct MarketplaceAgreementProperties {
    /// Publisher id.
    pub publisher: String,
    /// Offer id.
    pub product: String,
    /// Plan id.
    pub plan: String,
    /// Link to the publisher's license text.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub license_text_link: Option<String>,
    /// Link to the publisher's privacy policy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub privacy_policy_link: Option<String>,
    /// Link to the Azure Marketplace terms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub marketplace_terms_link: Option<String>,
    /// When the terms were accepted (empty when not).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retrieve_datetime: Option<String>,
    /// Terms signature.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    /// Whether any version of the terms has been accepted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accepted: Option<bool>,
}

impl Plan {
    /// The ARM id of this plan's terms agreement in `subscription`
    /// (`/subscriptions/{s}/providers/Microsoft.MarketplaceOrdering/offerTypes/virtualmachine/
    /// publishers/{publisher}/offers/{product}/plans/{name}/agreements/current`), built by pushing
    /// checked segments onto a [`ResourceId`]. `None` when the subscription is not a GUID or a
    /// plan field is not a plain Marketplace identifier (letters, digits, `.`, `_`, `-`, not only
    /// dots), so no segment is ever escaped or interpreted.
    ///
    /// This is the one ARM read outside the allow-listed scopes and galleries: a subscription-level
    /// read in the target subscription, which needs a role there (Reader); without one the
    /// pre-check is skipped and the VM PUT reports the terms failure.
    pub fn agreement_path(&self, subscription: &str) -> Option<ResourceId> {
        let plain = |s: &str| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
                && !s.bytes().all(|b| b == b'.')
        };
        if ![&self.publisher, &self.product, &self.name]
            .iter()
            .all(|s| plain(s))
        {
            return None;
        }
        ResourceId::subscription(subscription)
            .and_then(|id| {
                id.provider_child(
                    "Microsoft.MarketplaceOrdering",
                    "offerTypes",
                    "virtualmachine",
                )
            })
            .and_then(|id| id.child("publishers", &self.publisher))
            .and_then(|id| id.child("offers", &self.product))
            .and_then(|id| id.child("plans", &self.name))
            .and_then(|id| id.child("agreements", "current"))
            .ok()
    }
}
