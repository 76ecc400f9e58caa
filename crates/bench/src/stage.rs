//! Copies the binaries under test into a fresh directory before they are measured.
//!
//! The start-up figure depends on how the binary sits in the page cache, not only on its bytes:
//! measured on the 2-core machine of the README, the real `handler` straight from
//! `target/release` took about 17 more page faults and 0.15 ms more to start than a plain copy
//! of the same file. The linker writes its output through a memory mapping; a copy is written
//! the way unzipping the deployment package writes it. Every binary is copied the same way, so
//! the comparison is between binaries, not between page-cache histories. `--in-place` skips it.

use std::path::{Path, PathBuf};

use crate::BenchError;

/// A scratch directory holding the copies; removed when dropped.
#[derive(Debug)]
pub struct Staging {
    dir: PathBuf,
}

impl Staging {
    /// Creates `<temp>/imageferry-bench-<pid>`.
    pub fn new() -> Result<Self, BenchError> {
        let dir = std::env::temp_dir().join(format!("imageferry-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|source| BenchError::Io {
            context: format!("creating {}", dir.display()),
            source,
        })?;
        Ok(Self { dir })
    }

    /// Copies `binary` into the directory (keeping its file name and permissions).
    pub fn copy(&self, binary: &Path) -> Result<PathBuf, BenchError> {
        let name = binary.file_name().unwrap_or(binary.as_os_str());
        let copy = self.dir.join(name);
        std::fs::copy(binary, &copy).map_err(|source| BenchError::Io {
            context: format!("copying {} to {}", binary.display(), copy.display()),
            source,
        })?;
        Ok(copy)
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    #[test]
    fn copies_keep_bytes_and_mode_and_vanish_with_the_staging() {
        let source = std::env::temp_dir().join(format!("stage-src-{}", std::process::id()));
        std::fs::write(&source, b"#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&source, std::fs::Permissions::from_mode(0o755)).unwrap();
        let staging = Staging::new().unwrap();
        let copy = staging.copy(&source).unwrap();
        assert_eq!(copy.parent(), Some(staging.dir()));
        assert_eq!(std::fs::read(&copy).unwrap(), b"#!/bin/sh\n");
        let mode = std::fs::metadata(&copy).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o755);
        let dir = staging.dir().to_owned();
        drop(staging);
        assert!(!dir.exists());
        std::fs::remove_file(source).unwrap();
    }
}
