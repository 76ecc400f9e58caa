//! Parsing of the three accepted image version id forms.
//!
//! Segment names are matched case-insensitively (ARM resource ids are case-insensitive); the
//! names themselves keep their spelling.
//! Forms (azure-rest-api-specs ComputeRP 2025-04-01 `ImageReference`: `id`, `sharedGalleryImageId`,
//! `communityGalleryImageId`):
//! - `/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Compute/galleries/{g}/images/{i}/versions/{v}`
//! - `/SharedGalleries/{galleryUniqueName}/Images/{i}/Versions/{v}`
//! - `/CommunityGalleries/{publicGalleryName}/Images/{i}/Versions/{v}`

use crate::resource_id::{ResourceId, ResourceIdError};
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
    /// A segment or name breaks the resource id rules (`..`, percent-encoding, naming rules).
    #[error(transparent)]
    Invalid(ResourceIdError),
}

impl From<ResourceIdError> for ImageIdError {
    fn from(e: ResourceIdError) -> Self {
        match e {
            ResourceIdError::BadName { kind, name, .. }
                if kind.eq_ignore_ascii_case("versions") =>
            {
                ImageIdError::BadVersion(name)
            }
            ResourceIdError::NotAbsolute(_) | ResourceIdError::Unpaired(_) => {
                ImageIdError::UnknownForm
            }
            other => ImageIdError::Invalid(other),
        }
    }
}

impl ImageId {
    /// Parses an id in any of the three forms; every segment is checked by [`ResourceId`].
    pub fn parse(id: &str) -> Result<Self, ImageIdError> {
        let rid = ResourceId::parse(id)?;
        let kinds: Vec<String> = rid.kinds().map(str::to_ascii_lowercase).collect();
        let kinds: Vec<&str> = kinds.iter().map(String::as_str).collect();
        let names: Vec<&str> = rid.pairs().map(|(_, n)| n).collect();
        let parsed = match kinds.as_slice() {
            [
                "subscriptions",
                "resourcegroups",
                "providers",
                "galleries",
                "images",
                "versions",
            ] if names[2].eq_ignore_ascii_case("Microsoft.Compute") => ImageId::Gallery {
                subscription_id: names[0].into(),
                resource_group: names[1].into(),
                gallery: names[3].into(),
                image: names[4].into(),
                version: names[5].into(),
            },
            ["sharedgalleries", "images", "versions"] => ImageId::Shared {
                unique_name: names[0].into(),
                image: names[1].into(),
                version: names[2].into(),
            },
            ["communitygalleries", "images", "versions"] => ImageId::Community {
                public_name: names[0].into(),
                image: names[1].into(),
                version: names[2].into(),
            },
            _ => return Err(ImageIdError::UnknownForm),
        };
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
    pub fn gallery(&self) -> ResourceId {
        let built = match self {
            ImageId::Gallery {
                subscription_id,
                resource_group,
                gallery,
                ..
            } => ResourceId::resource_group(subscription_id, resource_group)
                .and_then(|rg| rg.provider_child("Microsoft.Compute", "galleries", gallery)),
            ImageId::Shared { unique_name, .. } => {
                ResourceId::root().child("SharedGalleries", unique_name)
            }
            ImageId::Community { public_name, .. } => {
                ResourceId::root().child("CommunityGalleries", public_name)
            }
        };
        built.expect("segments were checked when the image id was parsed")
    }

    /// [`ImageId::gallery`] as text.
    pub fn gallery_id(&self) -> String {
        self.gallery().to_string()
    }

    /// The version's full id as a [`ResourceId`] (the canonical spelling of [`fmt::Display`]).
    pub fn resource_id(&self) -> ResourceId {
        let (images, versions) = match self {
            ImageId::Gallery { .. } => ("images", "versions"),
            _ => ("Images", "Versions"),
        };
        self.gallery()
            .child(images, self.image())
            .and_then(|d| d.child(versions, self.version()))
            .expect("segments were checked when the image id was parsed")
    }

    /// The image definition (gallery form only; shared/community definitions are
    /// location-scoped and built by the caller).
    pub fn definition(&self) -> Option<ResourceId> {
        match self {
            ImageId::Gallery { .. } => self.resource_id().parent(),
            _ => None,
        }
    }

    /// [`ImageId::definition`] as text.
    pub fn definition_id(&self) -> Option<String> {
        self.definition().map(|d| d.to_string())
    }
}

impl fmt::Display for ImageId {
    /// The canonical id, suitable for `imageReference.id` / `sharedGalleryImageId` /
    /// `communityGalleryImageId`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.resource_id(), f)
    }
}

/// Case-insensitive comparison of two ARM resource ids (trailing `/` ignored); ids that do not
/// parse are never equal.
pub fn resource_id_eq(a: &str, b: &str) -> bool {
    matches!((ResourceId::parse(a), ResourceId::parse(b)), (Ok(a), Ok(b)) if a == b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_gallery_id_case_insensitively() {
        let id = ImageId::parse("/SUBSCRIPTIONS/aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa/resourcegroups/myGalleryRG/providers/microsoft.compute/Galleries/myGallery/Images/myImageDefinition/Versions/1.0.0").unwrap();
        assert_eq!(
            id,
            ImageId::Gallery {
                subscription_id: "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa".into(),
                resource_group: "myGalleryRG".into(),
                gallery: "myGallery".into(),
                image: "myImageDefinition".into(),
                version: "1.0.0".into()
            }
        );
        assert!(id.needs_aux_token());
        assert_eq!(
            id.to_string(),
            "/subscriptions/aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa/resourceGroups/myGalleryRG/providers/Microsoft.Compute/galleries/myGallery/images/myImageDefinition/versions/1.0.0"
        );
        assert_eq!(
            id.definition_id().unwrap(),
            "/subscriptions/aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa/resourceGroups/myGalleryRG/providers/Microsoft.Compute/galleries/myGallery/images/myImageDefinition"
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
            "subscriptions/aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa/resourceGroups/b/providers/Microsoft.Compute/galleries/g/images/i/versions/1.0.0",
            "/subscriptions/aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa/resourceGroups/b/providers/Microsoft.Compute/galleries/g/images/i",
            "/subscriptions/aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa/resourceGroups/b/providers/Microsoft.Network/galleries/g/images/i/versions/1.0.0",
            "/SharedGalleries/u/Images/i",
            "/OtherGalleries/u/Images/i/Versions/1.0.0",
        ] {
            assert_eq!(ImageId::parse(bad), Err(ImageIdError::UnknownForm), "{bad}");
        }
        for bad in [
            "/SharedGalleries//Images/i/Versions/1.0.0",
            "/SharedGalleries/u/Images/../Versions/1.0.0",
            "/SharedGalleries/u/Images/%2e%2e/Versions/1.0.0",
            "/SharedGalleries/u/Images/./Versions/1.0.0",
            "/subscriptions/aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa/resourceGroups/g/providers/Microsoft.Compute/galleries/x/images/..",
        ] {
            assert!(
                matches!(
                    ImageId::parse(bad),
                    Err(ImageIdError::Invalid(_) | ImageIdError::UnknownForm)
                ),
                "{bad}"
            );
        }
        assert!(matches!(
            ImageId::parse("/SharedGalleries/u/Images/i/Versions/%2e%2e"),
            Err(ImageIdError::Invalid(_))
        ));
        assert_eq!(
            ImageId::parse("/SharedGalleries/u/Images/i/Versions/latest"),
            Err(ImageIdError::BadVersion("latest".into()))
        );
        assert!(ImageId::parse("/SharedGalleries/u/Images/i/Versions/1.0.99999999999").is_err());
    }
}
