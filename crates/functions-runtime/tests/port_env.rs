//! `FUNCTIONS_CUSTOMHANDLER_PORT` handling. One test in its own binary: it changes the process
//! environment, which must not race with other tests.

use functions_runtime::{PORT_ENV, RunError, port_from_env};

#[test]
fn port_comes_from_the_environment_with_clear_errors() {
    // SAFETY: this test binary has a single test and no other threads read the environment.
    unsafe {
        std::env::remove_var(PORT_ENV);
        std::env::remove_var("FUNCTIONS_HTTPWORKER_PORT");
    }
    let missing = port_from_env().unwrap_err();
    assert!(matches!(missing, RunError::PortMissing));
    assert!(missing.to_string().contains(PORT_ENV));

    // SAFETY: as above.
    unsafe { std::env::set_var(PORT_ENV, "70000") };
    let invalid = port_from_env().unwrap_err();
    assert!(matches!(invalid, RunError::PortInvalid { ref value } if value == "70000"));
    assert!(invalid.to_string().contains("70000"));

    // SAFETY: as above.
    unsafe { std::env::set_var(PORT_ENV, " 7071 ") };
    assert_eq!(port_from_env().unwrap(), 7071);

    // SAFETY: as above.
    unsafe {
        std::env::remove_var(PORT_ENV);
        std::env::set_var("FUNCTIONS_HTTPWORKER_PORT", "7072");
    }
    assert_eq!(port_from_env().unwrap(), 7072);
}
