//! Endpoint URLs gf is given (the S3 state backend, the Attic cache): one rule for user info.
//!
//! `http://user:password@host` would carry a credential into the backend file, `.terraform/`, the
//! dry run, the Nix store and every message that shows the endpoint. gf refuses an endpoint that
//! holds `@` anywhere and never shows it: a password may itself hold `/`, `?` or `#`, so no
//! parser's idea of where the user info ends is trusted to cut it out.

/// An endpoint with user info, named by what it is and where it came from; the value is not kept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the {what} from {source_name} contains `@`, the mark of user info (`user:password@host`): credentials in the URL are refused and the value is not shown; {hint}"
)]
pub struct UserInfo {
    /// `S3 endpoint`, `Attic endpoint`.
    pub what: &'static str,
    /// The variable, flag or contract field, in backticks.
    pub source_name: &'static str,
    /// Where the credential belongs instead.
    pub hint: &'static str,
}

/// Refuse `value` when it carries user info (any `@`), without keeping or showing it.
pub fn refuse_user_info(
    value: &str,
    what: &'static str,
    source_name: &'static str,
    hint: &'static str,
) -> Result<(), UserInfo> {
    if value.contains('@') { Err(UserInfo { what, source_name, hint }) } else { Ok(()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_at_sign_is_refused_and_never_shown() {
        for value in [
            "http://user:SENTINEL@host:9000",
            "http://user@host",
            "http://:SENTINEL@host",
            // Where a parser would end the authority before the `@`: the password still never shows.
            "http://user:SEN/TI?NEL@host",
            "http://user:SENTINEL@[::1",
            "user:SENTINEL@host:9000",
            "http:user:SENTINEL@host",
        ] {
            let err = refuse_user_info(value, "S3 endpoint", "`VAR`", "use the variables").unwrap_err();
            let msg = err.to_string();
            assert!(msg.contains("S3 endpoint from `VAR` contains `@`") && msg.ends_with("use the variables"), "{msg}");
            assert!(!msg.contains("SENTINEL") && !msg.contains("SEN"), "{msg}");
        }
    }

    #[test]
    fn endpoints_without_user_info_pass() {
        for value in ["http://rustfs.nix-cache.svc:9000", "https://[::1]:8443/base", "http://h/%40x"] {
            assert_eq!(refuse_user_info(value, "S3 endpoint", "`VAR`", ""), Ok(()), "{value}");
        }
    }
}
