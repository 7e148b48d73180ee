//! Passwords: a literal, the first line of a command's stdout, an environment variable, or
//! the system keyring. Resolved only for the storages a command actually uses, so `check`
//! and `status` never prompt a password manager.
//!
//! No message built here ever contains the password itself.

use std::fmt;
use std::process::{Command, Stdio};

use davsync_storages::net::Secret;
use zeroize::Zeroizing;

#[derive(Clone, PartialEq, Eq)]
pub enum PasswordSource {
    Literal(Secret),
    /// Program and arguments; the first line of its stdout is the password.
    Command(Vec<String>),
    Env(String),
    Keyring {
        service: String,
        username: String,
    },
}

/// Redacts the literal: configs are debug-logged at `-vv`.
impl fmt::Debug for PasswordSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PasswordSource::Literal(_) => f.write_str("Literal(<redacted>)"),
            PasswordSource::Command(c) => f.debug_tuple("Command").field(c).finish(),
            PasswordSource::Env(v) => f.debug_tuple("Env").field(v).finish(),
            PasswordSource::Keyring { service, username } => f
                .debug_struct("Keyring")
                .field("service", service)
                .field("username", username)
                .finish(),
        }
    }
}

impl PasswordSource {
    /// Fetches the password. The error names the source (command, variable, keyring entry)
    /// but never holds any part of a password. Every copy made on the way is wiped when
    /// dropped, like the [`Secret`] returned.
    pub fn fetch(&self) -> Result<Secret, String> {
        match self {
            PasswordSource::Literal(p) => Ok(p.clone()),
            PasswordSource::Env(var) => match std::env::var(var).map(Secret::new) {
                Ok(v) if !v.expose().is_empty() => Ok(v),
                Ok(_) => Err(format!("password.env: environment variable {var} is empty")),
                Err(std::env::VarError::NotPresent) => Err(format!(
                    "password.env: environment variable {var} is not set"
                )),
                Err(std::env::VarError::NotUnicode(_)) => Err(format!(
                    "password.env: environment variable {var} is not valid UTF-8"
                )),
            },
            PasswordSource::Command(argv) => {
                let (prog, args) = argv
                    .split_first()
                    .ok_or_else(|| "password.command is empty".to_owned())?;
                let shown = argv.join(" ");
                let out = Command::new(prog)
                    .args(args)
                    .stdin(Stdio::null())
                    .stderr(Stdio::inherit())
                    .output()
                    .map_err(|e| format!("password.command `{shown}` could not run: {e}"))?;
                if !out.status.success() {
                    return Err(format!("password.command `{shown}` failed: {}", out.status));
                }
                let stdout = Zeroizing::new(out.stdout);
                let text = std::str::from_utf8(&stdout).map_err(|_| {
                    format!("password.command `{shown}` printed something that is not UTF-8")
                })?;
                let first = Secret::new(text.lines().next().unwrap_or(""));
                if first.expose().is_empty() {
                    return Err(format!(
                        "password.command `{shown}` printed no password on its first line"
                    ));
                }
                Ok(first)
            }
            PasswordSource::Keyring { service, username } => {
                let entry = keyring::Entry::new(service, username).map_err(|e| {
                    format!("password.keyring (service {service:?}, username {username:?}): {e}")
                })?;
                from_keyring(&entry, service, username)
            }
        }
    }
}

fn from_keyring(entry: &keyring::Entry, service: &str, username: &str) -> Result<Secret, String> {
    entry
        .get_password()
        .map(Secret::new)
        .map_err(|e| format!("password.keyring (service {service:?}, username {username:?}): {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_password_is_first_line_of_stdout() {
        let src = PasswordSource::Command(vec![
            "sh".into(),
            "-c".into(),
            "printf 's3cret\\nsecond line\\n'".into(),
        ]);
        assert_eq!(src.fetch().unwrap().expose(), "s3cret");
    }

    #[test]
    fn failing_command_is_named_without_output() {
        let src =
            PasswordSource::Command(vec!["sh".into(), "-c".into(), "echo leaked; exit 3".into()]);
        let err = src.fetch().unwrap_err();
        assert!(err.contains("password.command `sh -c echo leaked; exit 3` failed"));
        assert!(err.contains("exit status: 3"), "{err}");
    }

    #[test]
    fn missing_env_variable_is_named() {
        let src = PasswordSource::Env("DAVSYNC_TEST_SURELY_UNSET_VAR".into());
        assert_eq!(
            src.fetch().unwrap_err(),
            "password.env: environment variable DAVSYNC_TEST_SURELY_UNSET_VAR is not set"
        );
    }

    #[test]
    fn keyring_password_comes_from_the_credential_store() {
        keyring::set_default_credential_builder(keyring::mock::default_credential_builder());
        let src = PasswordSource::Keyring {
            service: "davsync-test".into(),
            username: "alice".into(),
        };
        // The mock store keeps credentials per Entry, so a fresh entry has none: the error
        // must name the entry and nothing else.
        let err = src.fetch().unwrap_err();
        assert!(err.contains("service \"davsync-test\""), "{err}");
        let entry = keyring::Entry::new("davsync-test", "alice").unwrap();
        entry.set_password("from-keyring").unwrap();
        assert_eq!(
            from_keyring(&entry, "davsync-test", "alice")
                .unwrap()
                .expose(),
            "from-keyring"
        );
    }

    #[test]
    fn literal_is_redacted_in_debug_output() {
        let src = PasswordSource::Literal(Secret::new("hunter2"));
        assert!(!format!("{src:?}").contains("hunter2"));
    }
}
