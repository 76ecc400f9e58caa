//! The OS-profile rules checked before the first write: computer names derived from VM names,
//! SSH public keys (real keys made with ssh-keygen under tests/fixtures/ssh) and Windows
//! passwords.

use imageferry_contract::os_profile::{
    OsProfileError, SshKeyKind, check_ssh_public_key, check_windows_password, computer_name,
};
use imageferry_contract::{OsState, OsType};

const G: OsState = OsState::Generalized;

fn key(name: &str) -> String {
    let path = format!("{}/tests/fixtures/ssh/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(path).unwrap().trim().to_string()
}

#[test]
fn computer_name_drops_what_azure_does_not_allow() {
    assert_eq!(
        computer_name("myVM", OsType::Linux, G).unwrap().as_deref(),
        Some("myVM")
    );
    assert_eq!(
        computer_name("web_server.01", OsType::Linux, G)
            .unwrap()
            .as_deref(),
        Some("webserver01")
    );
    assert_eq!(
        computer_name("web_01", OsType::Windows, G)
            .unwrap()
            .as_deref(),
        Some("web01")
    );
    // Leading/trailing '-' left over after dropping '_' go too.
    assert_eq!(
        computer_name("_a-b_", OsType::Linux, G).unwrap().as_deref(),
        Some("a-b")
    );
}

#[test]
fn specialized_images_have_no_computer_name() {
    for os in [OsType::Linux, OsType::Windows] {
        assert_eq!(
            computer_name(
                "a-name-far-too-long-for-windows-computer-names",
                os,
                OsState::Specialized
            ),
            Ok(None)
        );
        assert_eq!(computer_name("123", os, OsState::Specialized), Ok(None));
    }
}

#[test]
fn windows_allows_fifteen_characters_linux_sixty_four() {
    let fifteen = "abcdefghij-1234";
    assert_eq!(fifteen.len(), 15);
    assert_eq!(
        computer_name(fifteen, OsType::Windows, G)
            .unwrap()
            .as_deref(),
        Some(fifteen)
    );
    // Sixteen characters: fine on Linux, refused on Windows, naming the field and the fix.
    let sixteen = "abcdefghij-12345";
    assert!(computer_name(sixteen, OsType::Linux, G).is_ok());
    let err = computer_name(sixteen, OsType::Windows, G).unwrap_err();
    assert_eq!(err.field(), "vm.name");
    let text = err.to_string();
    assert!(
        text.contains("16 characters") && text.contains("at most 15"),
        "{text}"
    );
    assert!(err.fix().starts_with("choose a vm.name"), "{}", err.fix());
    // A VM name whose dropped characters bring it within 15 is fine on Windows.
    assert_eq!(
        computer_name("web_server_prod", OsType::Windows, G)
            .unwrap()
            .as_deref(),
        Some("webserverprod")
    );
    // 64 on Linux is the limit (VM names allow 64, so only a derived name can reach it).
    let sixty_four = "a".repeat(64);
    assert!(computer_name(&sixty_four, OsType::Linux, G).is_ok());
    assert!(computer_name(&format!("{sixty_four}b"), OsType::Linux, G).is_err());
}

#[test]
fn names_that_collide_with_one_rule_and_not_the_other() {
    // Same VM name, different OS: Windows' 15-character rule bites only Windows.
    let name = "build-agent-0042";
    assert!(computer_name(name, OsType::Linux, G).is_ok());
    assert!(matches!(
        computer_name(name, OsType::Windows, G),
        Err(OsProfileError::ComputerName { .. })
    ));
    // Only digits after dropping '_' and '.': refused on both.
    for os in [OsType::Linux, OsType::Windows] {
        let err = computer_name("2024_11.30", os, G).unwrap_err();
        assert!(err.to_string().contains("only digits"), "{err}");
        assert!(err.to_string().contains("derived from"), "{err}");
    }
    // Nothing left at all.
    assert!(computer_name("___", OsType::Linux, G).is_err());
}

#[test]
fn ssh_keys_rsa_2048_and_up_and_ed25519_only() {
    assert_eq!(
        check_ssh_public_key(&key("rsa2048.pub")),
        Ok(SshKeyKind::Rsa(2048))
    );
    assert_eq!(
        check_ssh_public_key(&key("rsa3072.pub")),
        Ok(SshKeyKind::Rsa(3072))
    );
    assert_eq!(
        check_ssh_public_key(&key("ed25519.pub")),
        Ok(SshKeyKind::Ed25519)
    );
    let short = check_ssh_public_key(&key("rsa1024.pub")).unwrap_err();
    assert_eq!(short.field(), "vm.sshPublicKey");
    assert!(short.to_string().contains("1024 bits"), "{short}");
    assert!(short.fix().contains("ssh-keygen"), "{}", short.fix());
    let ecdsa = check_ssh_public_key(&key("ecdsa256.pub")).unwrap_err();
    assert!(
        ecdsa
            .to_string()
            .contains("ecdsa-sha2-nistp256 keys are not supported"),
        "{ecdsa}"
    );
}

#[test]
fn malformed_ssh_keys_are_refused() {
    let ed = key("ed25519.pub");
    let data = ed.split_whitespace().nth(1).unwrap();
    // The type says RSA, the blob is Ed25519.
    let mislabelled = check_ssh_public_key(&format!("ssh-rsa {data}")).unwrap_err();
    assert!(
        mislabelled.to_string().contains("not ssh-rsa"),
        "{mislabelled}"
    );
    // Truncated blob.
    assert!(check_ssh_public_key(&format!("ssh-ed25519 {}", &data[..40])).is_err());
    assert!(check_ssh_public_key("ssh-ed25519 !!!notbase64").is_err());
    assert!(check_ssh_public_key("ssh-dss AAAAB3NzaC1kc3M=").is_err());
    assert!(check_ssh_public_key("").is_err());
}

#[test]
fn windows_passwords_follow_compute_rp() {
    assert!(check_windows_password("Correct-Horse-7").is_ok());
    assert!(
        check_windows_password("lower-and-123").is_ok(),
        "lower, digit, special"
    );
    let short = check_windows_password("Ab1!").unwrap_err();
    assert_eq!(short.field(), "vm.adminPasswordSecretId");
    assert!(short.to_string().contains("4 characters"), "{short}");
    assert!(
        check_windows_password(&"Aa1!".repeat(31)).is_err(),
        "124 characters"
    );
    assert!(
        check_windows_password(&format!("{}A", "Aa1!".repeat(30))).is_ok(),
        "121 characters"
    );
    let two = check_windows_password("onlylowercase123").unwrap_err();
    assert!(two.to_string().contains("2 of the 4"), "{two}");
    for banned in ["P@ssw0rd", "Password1", "pass@word1"] {
        let e = check_windows_password(banned).unwrap_err();
        assert!(e.to_string().contains("disallowed"), "{e}");
        assert!(
            !e.to_string().contains(banned),
            "the password never appears: {e}"
        );
    }
    assert!(check_windows_password("Tab\there-1A").is_err());
}
