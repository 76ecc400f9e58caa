//! End-to-end tests of imageferry across real processes. The tests are in `pipeline.rs`; they
//! start the Azure stand-in and the handler binaries through [`local_run`].
