//! ARM template language (placeholder).
