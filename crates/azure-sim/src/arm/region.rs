//! Region names: ARM `location` values (`westus2`) vs display names (`West US 2`).

/// Normalises a region for comparison: lowercase, spaces removed (reference/arm/NOTES.md §2).
pub fn normalize(region: &str) -> String {
    region
        .chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect()
}

/// Whether two region spellings denote the same region.
pub fn same(a: &str, b: &str) -> bool {
    normalize(a) == normalize(b)
}

#[cfg(test)]
mod tests {
    #[test]
    fn display_names_match_location_names() {
        assert!(super::same("West US 2", "westus2"));
        assert!(super::same("South Central US", "southcentralus"));
        assert!(!super::same("West US", "westus2"));
    }
}
