//! Azure's OS-profile rules applied before the first write (the rules themselves live in
//! `imageferry_contract::os_profile`): the computer name derived from `vm.name`, the SSH key,
//! the Windows password read from Key Vault. A request that breaks one ends `rejected` (or
//! `failed` for the secret's value) naming the field and the fix, before any resource exists.

use crate::outcome::StepError;
use azure_clients::SecretString;
use imageferry_contract::os_profile::{self, OsProfileError};
use imageferry_contract::{DeploymentRequest, ImageFacts, OsState, OsType};

fn rejected(e: &OsProfileError) -> StepError {
    StepError::rejected("ValidationFailed", e.to_string(), Some(e.fix()))
}

/// The computer name of the VM (`None` for a specialized image).
pub(crate) fn computer_name(
    req: &DeploymentRequest,
    facts: &ImageFacts,
) -> Result<Option<String>, StepError> {
    os_profile::computer_name(&req.vm.name, facts.os_type, facts.os_state).map_err(|e| rejected(&e))
}

/// Everything the request alone decides: the computer name and, for a generalized Linux
/// image, the SSH key.
pub(crate) fn check_request(req: &DeploymentRequest, facts: &ImageFacts) -> Result<(), StepError> {
    computer_name(req, facts)?;
    if (facts.os_type, facts.os_state) == (OsType::Linux, OsState::Generalized)
        && let Some(key) = &req.vm.ssh_public_key
    {
        os_profile::check_ssh_public_key(key).map_err(|e| rejected(&e))?;
    }
    Ok(())
}

/// The Windows password read from Key Vault: `failed` (the request is fine, the secret's value
/// is not) without ever showing the value.
pub(crate) fn check_password(password: &SecretString) -> Result<(), StepError> {
    os_profile::check_windows_password(password.expose())
        .map_err(|e| StepError::failed("InvalidAdminPassword", e.to_string(), Some(e.fix())))
}
