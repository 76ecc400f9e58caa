//! The name of a gallery image version, `MajorVersion.MinorVersion.Patch` (GalleryRP 2025-03-03,
//! `galleryImageVersionName`: "digits and periods; digits must be within the range of a 32-bit
//! integer"), and its order: numeric, part by part (`1.10.0` > `1.9.9`). The one parser and the
//! one order of the project (the stand-in in `azure-sim` keeps its own: it must not depend on
//! the client crates).

use std::fmt;
use std::str::FromStr;

/// A parsed gallery image version name; `Ord` is ARM's order (major, then minor, then patch).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct GalleryVersion {
    /// `MajorVersion`.
    pub major: u32,
    /// `MinorVersion`.
    pub minor: u32,
    /// `Patch`.
    pub patch: u32,
}

/// Why a text is not a gallery image version name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "version {0:?} is not major.minor.patch with 32-bit integers (a version is required; 'latest' is not accepted)"
)]
pub struct GalleryVersionError(pub String);

impl GalleryVersion {
    /// Parses `major.minor.patch`: three parts of ASCII digits, each at most `i32::MAX`.
    pub fn parse(text: &str) -> Result<Self, GalleryVersionError> {
        let bad = || GalleryVersionError(text.to_owned());
        let mut parts = text.split('.').map(|p| {
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            p.parse::<i32>().ok().and_then(|n| u32::try_from(n).ok())
        });
        let mut next = || parts.next().flatten().ok_or_else(bad);
        let version = GalleryVersion {
            major: next()?,
            minor: next()?,
            patch: next()?,
        };
        match parts.next() {
            None => Ok(version),
            Some(_) => Err(bad()),
        }
    }
}

impl FromStr for GalleryVersion {
    type Err = GalleryVersionError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for GalleryVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// The order of two version names, `None` when either is not `major.minor.patch`.
pub fn compare(a: &str, b: &str) -> Option<std::cmp::Ordering> {
    Some(
        GalleryVersion::parse(a)
            .ok()?
            .cmp(&GalleryVersion::parse(b).ok()?),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cmp::Ordering;

    #[test]
    fn parses_arms_form_only() {
        let v = GalleryVersion::parse("1.10.0").unwrap();
        assert_eq!((v.major, v.minor, v.patch), (1, 10, 0));
        assert_eq!(v.to_string(), "1.10.0");
        assert_eq!(
            "2147483647.0.1".parse::<GalleryVersion>().unwrap().major,
            2_147_483_647
        );
        for bad in [
            "",
            "1",
            "1.0",
            "1.0.0.0",
            "latest",
            "1.0.x",
            "1..0",
            "-1.0.0",
            "+1.0.0",
            " 1.0.0",
            "2147483648.0.0",
            "1.0.0 ",
        ] {
            assert_eq!(
                GalleryVersion::parse(bad),
                Err(GalleryVersionError(bad.into())),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn versions_compare_numerically() {
        assert_eq!(compare("1.10.0", "1.9.9"), Some(Ordering::Greater));
        assert_eq!(compare("1.0.0", "1.0.0"), Some(Ordering::Equal));
        assert_eq!(compare("0.0.9", "0.1.0"), Some(Ordering::Less));
        assert_eq!(compare("1.0", "1.0.0"), None);
        assert_eq!(compare("latest", "1.0.0"), None);
        let mut v: Vec<GalleryVersion> = ["1.10.0", "1.2.0", "1.9.3", "0.0.1"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        v.sort();
        let sorted: Vec<String> = v.iter().map(ToString::to_string).collect();
        assert_eq!(sorted, ["0.0.1", "1.2.0", "1.9.3", "1.10.0"]);
    }
}
