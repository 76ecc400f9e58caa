//! Parsing of the three accepted image version id forms.
//!
//! Segment names are matched case-insensitively (ARM resource ids are case-insensitive); the
//! names themselves keep their spelling.
//! Forms (azure-rest-api-specs ComputeRP 2025-04-01 `ImageReference`: `id`, `sharedGalleryImageId`,
//! `communityGalleryImageId`):
//! - `/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Compute/galleries/{g}/images/{i}/versions/{v}`
//! - `/SharedGalleries/{galleryUniqueName}/Images/{i}/Versions/{v}`
//! - `/CommunityGalleries/{publicGalleryName}/Images/{i}/Versions/{v}`

use std::fmt;

/// A parsed image version id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageId {
    /// A gallery in tenant 1, read with a tenant-1 token and used with an auxiliary token.
    Gallery {
        /// Subscription of the gallery.
        subscription_id: String,
        /// Resource group of the gallery.
        resource_group: String,
        /// Gallery name.
        gallery: String,
        /// Image definition name.
        image: String,
        /// Version name (`major.minor.patch`).
        version: String,
    },
    /// A directly shared gallery, read through the target subscription's location-scoped API.
    Shared {
        /// The gallery's unique name.
        unique_name: String,
        /// Image definition name.
        image: String,
        /// Version name.
        version: String,
    },
    /// A community gallery, read through the target subscription's location-scoped API.
    Community {
        /// The gallery's public name.
        public_name: String,
        /// Image definition name.
        image: String,
        /// Version name.
        version: String,
    },
}

/// Why an image id was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImageIdError {
    /// The id matches none of the three forms.
    #[error(
        "not an image version id: expected /subscriptions/{{sub}}/resourceGroups/{{rg}}/providers/Microsoft.Compute/galleries/{{gallery}}/images/{{image}}/versions/{{version}}, /SharedGalleries/{{name}}/Images/{{image}}/Versions/{{version}} or /CommunityGalleries/{{name}}/Images/{{image}}/Versions/{{version}}"
    )]
    UnknownForm,
    /// The version segment is not `major.minor.patch`.
    #[error(
        "version {0:?} is not major.minor.patch (a version is required; 'latest' is not accepted)"
    )]
    BadVersion(String),
}

impl ImageId {
    /// Parses an id in any of the three forms.
    pub fn parse(id: &str) -> Result<Self, ImageIdError> {
        let segments: Vec<&str> = id.trim_end_matches('/').split('/').collect();
        let is = |i: usize, name: &str| {
            segments
                .get(i)
                .is_some_and(|s| s.eq_ignore_ascii_case(name))
        };
        let named = |i: usize| segments.get(i).copied().filter(|s| !s.is_empty());
        if segments.first() != Some(&"") {
            return Err(ImageIdError::UnknownForm);
        }
        let parsed = if segments.len() == 13
            && is(1, "subscriptions")
            && is(3, "resourceGroups")
            && is(5, "providers")
            && is(6, "Microsoft.Compute")
            && is(7, "galleries")
            && is(9, "images")
            && is(11, "versions")
        {
            match (named(2), named(4), named(8), named(10), named(12)) {
                (Some(s), Some(rg), Some(g), Some(i), Some(v)) => ImageId::Gallery {
                    subscription_id: s.into(),
                    resource_group: rg.into(),
                    gallery: g.into(),
                    image: i.into(),
                    version: v.into(),
                },
                _ => return Err(ImageIdError::UnknownForm),
            }
        } else if segments.len() == 7 && is(3, "Images") && is(5, "Versions") {
            let (Some(g), Some(i), Some(v)) = (named(2), named(4), named(6)) else {
                return Err(ImageIdError::UnknownForm);
            };
            if is(1, "SharedGalleries") {
                ImageId::Shared {
                    unique_name: g.into(),
                    image: i.into(),
                    version: v.into(),
                }
            } else if is(1, "CommunityGalleries") {
                ImageId::Community {
                    public_name: g.into(),
                    image: i.into(),
                    version: v.into(),
                }
            } else {
                return Err(ImageIdError::UnknownForm);
            }
        } else {
            return Err(ImageIdError::UnknownForm);
        };
        if !is_version(parsed.version()) {
            return Err(ImageIdError::BadVersion(parsed.version().into()));
        }
        Ok(parsed)
    }

    /// The image definition name.
    pub fn image(&self) -> &str {
        match self {
            ImageId::Gallery { image, .. }
            | ImageId::Shared { image, .. }
            | ImageId::Community { image, .. } => image,
        }
    }

    /// The version name.
    pub fn version(&self) -> &str {
        match self {
            ImageId::Gallery { version, .. }
            | ImageId::Shared { version, .. }
            | ImageId::Community { version, .. } => version,
        }
    }

    /// Whether using this image needs a tenant-1 auxiliary token (only gallery resource ids do).
    pub fn needs_aux_token(&self) -> bool {
        matches!(self, ImageId::Gallery { .. })
    }

    /// The gallery this version belongs to, in the form used by `IMAGEFERRY_ALLOWED_GALLERIES`:
    /// `/subscriptions/{s}/resourceGroups/{rg}/providers/Microsoft.Compute/galleries/{g}`,
    /// `/SharedGalleries/{unique}` or `/CommunityGalleries/{name}`.
    pub fn gallery_id(&self) -> String {
        match self {
            ImageId::Gallery {
                subscription_id,
                resource_group,
                gallery,
                ..
            } => format!(
                "/subscriptions/{subscription_id}/resourceGroups/{resource_group}/providers/Microsoft.Compute/galleries/{gallery}"
            ),
            ImageId::Shared { unique_name, .. } => format!("/SharedGalleries/{unique_name}"),
            ImageId::Community { public_name, .. } => format!("/CommunityGalleries/{public_name}"),
        }
    }

    /// The image definition id (gallery form only; shared/community definitions are
    /// location-scoped and built by the caller).
    pub fn definition_id(&self) -> Option<String> {
        match self {
            ImageId::Gallery { image, .. } => Some(format!("{}/images/{image}", self.gallery_id())),
            _ => None,
        }
    }
}

impl fmt::Display for ImageId {
    /// The canonical id, suitable for `imageReference.id` / `sharedGalleryImageId` /
    /// `communityGalleryImageId`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ImageId::Gallery { image, version, .. } => {
                write!(f, "{}/images/{image}/versions/{version}", self.gallery_id())
            }
            ImageId::Shared {
                unique_name,
                image,
                version,
            } => write!(
                f,
                "/SharedGalleries/{unique_name}/Images/{image}/Versions/{version}"
            ),
            ImageId::Community {
                public_name,
                image,
                version,
            } => write!(
                f,
                "/CommunityGalleries/{public_name}/Images/{image}/Versions/{version}"
            ),
        }
    }
}

/// Gallery image version names are `MajorVersion.MinorVersion.Patch` with 32-bit integers
/// (GalleryRP 2025-03-03, `galleryImageVersionName` description).
fn is_version(v: &str) -> bool {
    let parts: Vec<&str> = v.split('.').collect();
    parts.len() == 3
        && parts.iter().all(|p| {
            !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) && p.parse::<i32>().is_ok()
        })
}

/// Case-insensitive comparison of two ARM resource ids (trailing `/` ignored).
pub fn resource_id_eq(a: &str, b: &str) -> bool {
    a.trim_end_matches('/')
        .eq_ignore_ascii_case(b.trim_end_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_gallery_id_case_insensitively() {
        let id = ImageId::parse("/SUBSCRIPTIONS/aaaa/resourcegroups/myGalleryRG/providers/microsoft.compute/Galleries/myGallery/Images/myImageDefinition/Versions/1.0.0").unwrap();
        assert_eq!(
            id,
            ImageId::Gallery {
                subscription_id: "aaaa".into(),
                resource_group: "myGalleryRG".into(),
                gallery: "myGallery".into(),
                image: "myImageDefinition".into(),
                version: "1.0.0".into()
            }
        );
        assert!(id.needs_aux_token());
        assert_eq!(
            id.to_string(),
            "/subscriptions/aaaa/resourceGroups/myGalleryRG/providers/Microsoft.Compute/galleries/myGallery/images/myImageDefinition/versions/1.0.0"
        );
        assert_eq!(
            id.definition_id().unwrap(),
            "/subscriptions/aaaa/resourceGroups/myGalleryRG/providers/Microsoft.Compute/galleries/myGallery/images/myImageDefinition"
        );
    }

    #[test]
    fn parses_shared_and_community() {
        let s = ImageId::parse("/SharedGalleries/uniq-1/Images/img/Versions/1.2.3").unwrap();
        assert_eq!(s.gallery_id(), "/SharedGalleries/uniq-1");
        assert!(!s.needs_aux_token());
        let c = ImageId::parse("/communitygalleries/pub/images/img/versions/0.0.1").unwrap();
        assert_eq!(
            c.to_string(),
            "/CommunityGalleries/pub/Images/img/Versions/0.0.1"
        );
    }

    #[test]
    fn rejects_other_forms() {
        for bad in [
            "",
            "subscriptions/a/resourceGroups/b/providers/Microsoft.Compute/galleries/g/images/i/versions/1.0.0",
            "/subscriptions/a/resourceGroups/b/providers/Microsoft.Compute/galleries/g/images/i",
            "/subscriptions/a/resourceGroups/b/providers/Microsoft.Network/galleries/g/images/i/versions/1.0.0",
            "/SharedGalleries/u/Images/i",
            "/OtherGalleries/u/Images/i/Versions/1.0.0",
            "/SharedGalleries//Images/i/Versions/1.0.0",
        ] {
            assert_eq!(ImageId::parse(bad), Err(ImageIdError::UnknownForm), "{bad}");
        }
        assert_eq!(
            ImageId::parse("/SharedGalleries/u/Images/i/Versions/latest"),
            Err(ImageIdError::BadVersion("latest".into()))
        );
        assert!(ImageId::parse("/SharedGalleries/u/Images/i/Versions/1.0.99999999999").is_err());
    }
}
