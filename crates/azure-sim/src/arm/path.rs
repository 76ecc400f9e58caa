//! Parsing of ARM request paths.

/// What an ARM path addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ArmPath {
    /// `/subscriptions` (Subscriptions - List).
    Subscriptions,
    /// `/subscriptions/{sub}` (Subscriptions - Get).
    Subscription { sub: String },
    /// `/subscriptions/{sub}/resourcegroups` (Resource Groups - List).
    ResourceGroups { sub: String },
    /// `/subscriptions/{sub}/resourceGroups/{rg}`.
    ResourceGroup { sub: String, rg: String },
    /// `/subscriptions/{sub}/resourceGroups/{rg}/resources` (Resources - List By Resource Group).
    GroupResources { sub: String, rg: String },
    /// `/subscriptions/{sub}/resourceGroups/{rg}/providers/{ns}/{type}/{name}[/{type}/{name}]*`,
    /// with `rest` = one more segment: a child collection (`…/images`) or an action
    /// (`…/powerOff`, `…/instanceView`); `names` one shorter than `types` = a collection.
    Resource {
        sub: String,
        rg: String,
        namespace: String,
        types: Vec<String>,
        names: Vec<String>,
    },
    /// `/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Compute/virtualMachineScaleSets/{name}[/...]`
    /// (the scale set, its instances and its actions; `rest` = the segments after the name).
    /// The collection `…/virtualMachineScaleSets` is a [`ArmPath::Resource`].
    ScaleSet {
        sub: String,
        rg: String,
        name: String,
        rest: Vec<String>,
    },
    /// `/subscriptions/{sub}/providers/{ns}/locations/{loc}/{operations|operationResults}/{id}`.
    Operation {
        sub: String,
        namespace: String,
        location: String,
        id: String,
        /// `operationResults` (the `Location` header's target) rather than `operations`.
        result: bool,
    },
    /// `/subscriptions/{sub}/operationresults/{id}` (resource-group deletion's `Location`).
    SubscriptionOperationResult { sub: String, id: String },
    /// `/subscriptions/{sub}/providers/Microsoft.Compute/locations/{loc}/{sharedGalleries|communityGalleries}[/{g}[/images[/{i}[/versions[/{v}]]]]]`:
    /// a gallery, image or version, or (`list`) the collection below the last name.
    LocationGallery {
        sub: String,
        location: String,
        community: bool,
        gallery: Option<String>,
        image: Option<String>,
        version: Option<String>,
        list: bool,
    },
    /// `/subscriptions/{sub}/providers/Microsoft.MarketplaceOrdering/offerTypes/virtualmachine/publishers/{p}/offers/{o}/plans/{plan}/agreements/current`.
    MarketplaceAgreement {
        sub: String,
        publisher: String,
        offer: String,
        plan: String,
    },
}

impl ArmPath {
    /// The subscription the path is under (none for `/subscriptions`).
    pub(crate) fn subscription(&self) -> Option<&str> {
        match self {
            Self::Subscriptions => None,
            Self::Subscription { sub }
            | Self::ResourceGroups { sub }
            | Self::ResourceGroup { sub, .. }
            | Self::GroupResources { sub, .. }
            | Self::Resource { sub, .. }
            | Self::ScaleSet { sub, .. }
            | Self::Operation { sub, .. }
            | Self::SubscriptionOperationResult { sub, .. }
            | Self::LocationGallery { sub, .. }
            | Self::MarketplaceAgreement { sub, .. } => Some(sub),
        }
    }

    /// Parses a path; `None` if it is not one the simulator serves.
    pub(crate) fn parse(path: &str) -> Option<Self> {
        let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
        let eq = |a: &str, b: &str| a.eq_ignore_ascii_case(b);
        if segs.is_empty() || !eq(segs[0], "subscriptions") || segs.iter().any(|s| s.is_empty()) {
            return None;
        }
        if segs.len() == 1 {
            return Some(Self::Subscriptions);
        }
        let sub = segs[1].to_owned();
        let rest = &segs[2..];
        match rest {
            [] => Some(Self::Subscription { sub }),
            [rg_kw] if eq(rg_kw, "resourceGroups") => Some(Self::ResourceGroups { sub }),
            [rg_kw, rg] if eq(rg_kw, "resourceGroups") => Some(Self::ResourceGroup {
                sub,
                rg: (*rg).to_owned(),
            }),
            [rg_kw, rg, res] if eq(rg_kw, "resourceGroups") && eq(res, "resources") => {
                Some(Self::GroupResources {
                    sub,
                    rg: (*rg).to_owned(),
                })
            }
            [or_kw, id] if eq(or_kw, "operationresults") => {
                Some(Self::SubscriptionOperationResult {
                    sub,
                    id: (*id).to_owned(),
                })
            }
            [rg_kw, rg, prov, ns, ss_kw, name, rest @ ..]
                if eq(rg_kw, "resourceGroups")
                    && eq(prov, "providers")
                    && eq(ns, "Microsoft.Compute")
                    && eq(ss_kw, "virtualMachineScaleSets") =>
            {
                Some(Self::ScaleSet {
                    sub,
                    rg: (*rg).to_owned(),
                    name: (*name).to_owned(),
                    rest: rest.iter().map(|s| (*s).to_owned()).collect(),
                })
            }
            [rg_kw, rg, prov, ns, tail @ ..]
                if eq(rg_kw, "resourceGroups") && eq(prov, "providers") && !tail.is_empty() =>
            {
                Some(Self::Resource {
                    sub,
                    rg: (*rg).to_owned(),
                    namespace: (*ns).to_owned(),
                    types: tail.iter().step_by(2).map(|s| (*s).to_owned()).collect(),
                    names: tail
                        .iter()
                        .skip(1)
                        .step_by(2)
                        .map(|s| (*s).to_owned())
                        .collect(),
                })
            }
            // Deployments also live at `…/resourcegroups/{rg}/deployments/…` (the form the
            // deployments SDK uses for operations), the same resources as under providers.
            [rg_kw, rg, dep_kw, name, tail @ ..]
                if eq(rg_kw, "resourceGroups") && eq(dep_kw, "deployments") && tail.len() <= 2 =>
            {
                let mut types = vec!["deployments".to_owned()];
                let mut names = vec![(*name).to_owned()];
                if let Some(t) = tail.first() {
                    types.push((*t).to_owned());
                }
                if let Some(n) = tail.get(1) {
                    names.push((*n).to_owned());
                }
                Some(Self::Resource {
                    sub,
                    rg: (*rg).to_owned(),
                    namespace: "Microsoft.Resources".to_owned(),
                    types,
                    names,
                })
            }
            [prov, ns, loc_kw, loc, op_kw, id]
                if eq(prov, "providers")
                    && eq(loc_kw, "locations")
                    && (eq(op_kw, "operations") || eq(op_kw, "operationResults")) =>
            {
                Some(Self::Operation {
                    sub,
                    namespace: (*ns).to_owned(),
                    location: (*loc).to_owned(),
                    id: (*id).to_owned(),
                    result: eq(op_kw, "operationResults"),
                })
            }
            [prov, ns, loc_kw, loc, kind, tail @ ..]
                if eq(prov, "providers")
                    && eq(ns, "Microsoft.Compute")
                    && eq(loc_kw, "locations")
                    && (eq(kind, "sharedGalleries") || eq(kind, "communityGalleries")) =>
            {
                let own = |s: &&str| Some((*s).to_owned());
                let (gallery, image, version, list) = match tail {
                    [] => (None, None, None, true),
                    [g] => (own(g), None, None, false),
                    [g, i_kw] if eq(i_kw, "images") => (own(g), None, None, true),
                    [g, i_kw, i] if eq(i_kw, "images") => (own(g), own(i), None, false),
                    [g, i_kw, i, v_kw] if eq(i_kw, "images") && eq(v_kw, "versions") => {
                        (own(g), own(i), None, true)
                    }
                    [g, i_kw, i, v_kw, v] if eq(i_kw, "images") && eq(v_kw, "versions") => {
                        (own(g), own(i), own(v), false)
                    }
                    _ => return None,
                };
                Some(Self::LocationGallery {
                    sub,
                    location: (*loc).to_owned(),
                    community: eq(kind, "communityGalleries"),
                    gallery,
                    image,
                    version,
                    list,
                })
            }
            [
                prov,
                ns,
                t_kw,
                t,
                p_kw,
                p,
                o_kw,
                o,
                pl_kw,
                pl,
                a_kw,
                current,
            ] if eq(prov, "providers")
                && eq(ns, "Microsoft.MarketplaceOrdering")
                && eq(t_kw, "offerTypes")
                && eq(t, "virtualmachine")
                && eq(p_kw, "publishers")
                && eq(o_kw, "offers")
                && eq(pl_kw, "plans")
                && eq(a_kw, "agreements")
                && eq(current, "current") =>
            {
                Some(Self::MarketplaceAgreement {
                    sub,
                    publisher: (*p).to_owned(),
                    offer: (*o).to_owned(),
                    plan: (*pl).to_owned(),
                })
            }
            _ => None,
        }
    }
}

/// A parsed gallery image (or version) id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct GalleryImageRef {
    pub(crate) sub: String,
    pub(crate) rg: String,
    pub(crate) gallery: String,
    pub(crate) image: String,
    pub(crate) version: Option<String>,
}

impl GalleryImageRef {
    /// Parses `/subscriptions/../resourceGroups/../providers/Microsoft.Compute/galleries/{g}/images/{i}[/versions/{v}]`.
    pub(crate) fn parse(id: &str) -> Option<Self> {
        match ArmPath::parse(id)? {
            ArmPath::Resource {
                sub,
                rg,
                namespace,
                types,
                names,
            } if namespace.eq_ignore_ascii_case("Microsoft.Compute")
                && types.len() == names.len() =>
            {
                let t: Vec<String> = types.iter().map(|t| t.to_ascii_lowercase()).collect();
                let t: Vec<&str> = t.iter().map(String::as_str).collect();
                match t.as_slice() {
                    ["galleries", "images"] => Some(Self {
                        sub,
                        rg,
                        gallery: names[0].clone(),
                        image: names[1].clone(),
                        version: None,
                    }),
                    ["galleries", "images", "versions"] => Some(Self {
                        sub,
                        rg,
                        gallery: names[0].clone(),
                        image: names[1].clone(),
                        version: Some(names[2].clone()),
                    }),
                    _ => None,
                }
            }
            _ => None,
        }
    }

    /// The image definition id.
    pub(crate) fn image_id(&self) -> String {
        format!(
            "/subscriptions/{}/resourceGroups/{}/providers/Microsoft.Compute/galleries/{}/images/{}",
            self.sub, self.rg, self.gallery, self.image
        )
    }
}

/// Parses `/SharedGalleries/{g}/Images/{i}/Versions/{v}` or `/CommunityGalleries/...`.
pub(crate) fn parse_direct_ref(id: &str, kind: &str) -> Option<(String, String, Option<String>)> {
    let segs: Vec<&str> = id.trim_matches('/').split('/').collect();
    let eq = |a: &str, b: &str| a.eq_ignore_ascii_case(b);
    match segs.as_slice() {
        [k, g, i_kw, i] if eq(k, kind) && eq(i_kw, "Images") => {
            Some(((*g).into(), (*i).into(), None))
        }
        [k, g, i_kw, i, v_kw, v] if eq(k, kind) && eq(i_kw, "Images") && eq(v_kw, "Versions") => {
            Some(((*g).into(), (*i).into(), Some((*v).into())))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_served_paths() {
        assert_eq!(
            ArmPath::parse("/subscriptions/s/resourceGroups/rg"),
            Some(ArmPath::ResourceGroup {
                sub: "s".into(),
                rg: "rg".into()
            })
        );
        let p = ArmPath::parse("/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks/v/subnets/sn").unwrap();
        assert!(
            matches!(p, ArmPath::Resource { ref types, .. } if types == &["virtualNetworks", "subnets"])
        );
        assert!(matches!(
            ArmPath::parse(
                "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualNetworks"
            ),
            Some(ArmPath::Resource { ref types, ref names, .. }) if types.len() == 1 && names.is_empty()
        ));
        assert_eq!(
            ArmPath::parse("/subscriptions"),
            Some(ArmPath::Subscriptions)
        );
        assert_eq!(
            ArmPath::parse(
                "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachineScaleSets/ss/virtualMachines/0/instanceView"
            ),
            Some(ArmPath::ScaleSet {
                sub: "s".into(),
                rg: "rg".into(),
                name: "ss".into(),
                rest: vec!["virtualMachines".into(), "0".into(), "instanceView".into()]
            })
        );
        assert!(matches!(
            ArmPath::parse(
                "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachineScaleSets"
            ),
            Some(ArmPath::Resource { ref types, ref names, .. }) if types == &["virtualMachineScaleSets"] && names.is_empty()
        ));
        assert!(matches!(
            ArmPath::parse(
                "/subscriptions/s/providers/Microsoft.Compute/locations/l/sharedGalleries/g"
            ),
            Some(ArmPath::LocationGallery {
                list: false,
                image: None,
                ..
            })
        ));
        let g = GalleryImageRef::parse("/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/galleries/g/images/i/versions/1.0.0").unwrap();
        assert_eq!(g.version.as_deref(), Some("1.0.0"));
        assert_eq!(
            parse_direct_ref(
                "/SharedGalleries/u/Images/i/Versions/1.0.0",
                "SharedGalleries"
            ),
            Some(("u".into(), "i".into(), Some("1.0.0".into())))
        );
    }
}
