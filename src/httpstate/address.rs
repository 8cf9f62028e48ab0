//! The HTTP state's addresses and methods, and the basic-auth credentials: parsed so that no
//! credential and no query (it may carry a token) ever reaches a message.

use std::fmt;

use base64::Engine as _;
use hyper::Method;
use hyper::header::HeaderValue;

use super::{ENV_PASSWORD, ENV_USERNAME, HttpStateError};

/// An http(s) URL without user info. `Display` shows scheme, host, port and path, and the query
/// (which may carry a token) as `?…`.
#[derive(Clone, PartialEq, Eq)]
pub struct Address(url::Url);

impl Address {
    /// Parse the value of `flag`. Never echoes the value.
    pub fn parse(value: &str, flag: &'static str) -> Result<Self, HttpStateError> {
        let bad = |reason: &str| HttpStateError::Address { flag, reason: reason.into() };
        // Any `@` (gf's one rule, `endpoint::refuse_user_info`): a password may itself hold `/`,
        // `?` or `#`, so no parser's idea of where the user info ends is trusted to cut it out.
        crate::endpoint::refuse_user_info(value, "HTTP state address", flag, "")
            .map_err(|_| HttpStateError::UserInfo { flag })?;
        let url = url::Url::parse(value.trim()).map_err(|e| bad(&e.to_string()))?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(HttpStateError::UserInfo { flag });
        }
        if !matches!(url.scheme(), "http" | "https") {
            return Err(bad("the scheme must be `http` or `https`"));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(bad("no host"));
        }
        Ok(Self(url))
    }

    /// Whether requests go in clear text (`http://`) to a host other than this machine.
    pub fn cleartext_remote(&self) -> bool {
        let local = match self.0.host() {
            Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            None => false,
        };
        self.0.scheme() == "http" && !local
    }

    /// The full URL, for the request only.
    pub(super) fn as_uri(&self) -> &str {
        self.0.as_str()
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let u = &self.0;
        write!(f, "{}://{}", u.scheme(), u.host_str().unwrap_or_default())?;
        if let Some(port) = u.port() {
            write!(f, ":{port}")?;
        }
        f.write_str(u.path())?;
        if u.query().is_some() {
            f.write_str("?…")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Address({self})")
    }
}

/// Basic-auth credentials. `Debug` shows only the user name.
#[derive(Clone)]
pub struct Credentials {
    username: String,
    password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials").field("username", &self.username).finish_non_exhaustive()
    }
}

impl Credentials {
    /// `TF_HTTP_USERNAME`/`TF_HTTP_PASSWORD` from `lookup`; `None` when neither is set (as
    /// terraform, no basic auth without a user name).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Option<Self>, HttpStateError> {
        let get = |k: &str| lookup(k).filter(|v| !v.is_empty());
        match (get(ENV_USERNAME), get(ENV_PASSWORD)) {
            (None, None) => Ok(None),
            (None, Some(_)) => Err(HttpStateError::PasswordWithoutUser),
            (Some(username), password) => Ok(Some(Self { username, password: password.unwrap_or_default() })),
        }
    }

    /// The user name (not secret).
    pub fn username(&self) -> &str {
        &self.username
    }

    /// Whether a password is set.
    pub fn has_password(&self) -> bool {
        !self.password.is_empty()
    }

    fn token(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", self.username, self.password))
    }

    pub(super) fn header(&self) -> Result<HeaderValue, HttpStateError> {
        // The token is base64 and always a valid header value; a control character in the user
        // name or password (a newline pasted with a token) would still send the wrong secret.
        if self.username.chars().any(char::is_control) {
            return Err(HttpStateError::HeaderValue { var: ENV_USERNAME });
        }
        if self.password.chars().any(char::is_control) {
            return Err(HttpStateError::HeaderValue { var: ENV_PASSWORD });
        }
        let mut v = HeaderValue::from_str(&format!("Basic {}", self.token()))
            .map_err(|_| HttpStateError::HeaderValue { var: ENV_PASSWORD })?;
        v.set_sensitive(true);
        Ok(v)
    }

    /// `text` without the password and the basic-auth token.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for secret in [self.token(), self.password.clone()] {
            if !secret.is_empty() && out.contains(&secret) {
                out = out.replace(&secret, "[redacted]");
            }
        }
        out
    }
}

/// The state's address, lock and unlock addresses and methods.
#[derive(Debug, Clone)]
pub struct Endpoints {
    /// `GET` here.
    pub state: Address,
    /// Lock here.
    pub lock: Address,
    /// With this method (`LOCK`; GitLab: `POST`).
    pub lock_method: Method,
    /// Unlock here.
    pub unlock: Address,
    /// With this method (`UNLOCK`; GitLab: `DELETE`).
    pub unlock_method: Method,
}

impl Endpoints {
    /// From the command line: the lock address defaults to the state's address, the unlock
    /// address to the lock address.
    pub fn parse(
        address: &str,
        lock: Option<&str>,
        unlock: Option<&str>,
        lock_method: &str,
        unlock_method: &str,
    ) -> Result<Self, HttpStateError> {
        let state = Address::parse(address, "--from-http")?;
        let lock = lock.map(|a| Address::parse(a, "--lock-address")).transpose()?.unwrap_or_else(|| state.clone());
        let unlock = unlock.map(|a| Address::parse(a, "--unlock-address")).transpose()?.unwrap_or_else(|| lock.clone());
        let method = |m: &str, flag| {
            let m = m.trim();
            if m.is_empty() {
                return Err(HttpStateError::Method { flag });
            }
            Method::from_bytes(m.as_bytes()).map_err(|_| HttpStateError::Method { flag })
        };
        Ok(Self {
            state,
            lock,
            lock_method: method(lock_method, "--lock-method")?,
            unlock,
            unlock_method: method(unlock_method, "--unlock-method")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SENTINEL: &str = "pw-SENTINEL-93f1";

    #[test]
    fn addresses_with_user_info_are_refused_without_being_shown() {
        for a in [
            format!("https://user:{SENTINEL}@gitlab.example/api/v4/projects/1/terraform/state/x"),
            format!("https://{SENTINEL}@gitlab.example/x"),
            format!("https://user:{SENTINEL} with space@gitlab.example/x"),
            format!("gitlab.example:{SENTINEL}@host/x"),
        ] {
            let e = Address::parse(&a, "--from-http").unwrap_err();
            assert!(matches!(e, HttpStateError::UserInfo { .. }), "{a}: {e}");
            assert!(!e.to_string().contains(SENTINEL), "{e}");
        }
        let e = Address::parse(&format!("ftp://host/{SENTINEL}"), "--from-http").unwrap_err().to_string();
        assert!(e.contains("`http` or `https`") && !e.contains(SENTINEL), "{e}");
        let e = Address::parse(&format!("not a url {SENTINEL}"), "--lock-address").unwrap_err().to_string();
        assert!(e.contains("`--lock-address` is not an http(s) URL") && !e.contains(SENTINEL), "{e}");
        // Any `@` is refused: where a parser would end the authority early, nothing shows either.
        for a in [
            format!("https://user:12/{SENTINEL}@host/x"),
            format!("https://u:p?{SENTINEL}@host/x"),
            "https://host/a@b".into(),
        ] {
            let e = Address::parse(&a, "--from-http").unwrap_err();
            assert!(matches!(e, HttpStateError::UserInfo { .. }) && !e.to_string().contains(SENTINEL), "{a}: {e}");
        }
        assert!(Address::parse("https://host/a%40b", "--from-http").is_ok());
    }

    #[test]
    fn addresses_are_shown_without_their_query() {
        let a =
            Address::parse(&format!("https://gitlab.example:8443/api/state/x?private_token={SENTINEL}"), "f").unwrap();
        assert_eq!(a.to_string(), "https://gitlab.example:8443/api/state/x?…");
        assert!(!format!("{a:?}").contains(SENTINEL));
        assert!(a.as_uri().contains(SENTINEL), "the request itself keeps the query");
    }

    #[test]
    fn clear_text_is_told_apart_from_loopback_and_tls() {
        let remote = |a: &str| Address::parse(a, "f").unwrap().cleartext_remote();
        assert!(remote("http://gitlab.internal/api/v4/projects/1/terraform/state/x"));
        assert!(!remote("https://gitlab.internal/x"));
        assert!(!remote("http://127.0.0.1:8080/x") && !remote("http://localhost/x") && !remote("http://[::1]/x"));
    }

    #[test]
    fn endpoints_default_lock_to_the_address_and_unlock_to_the_lock() {
        let e = Endpoints::parse("http://h/s", None, None, "LOCK", "UNLOCK").unwrap();
        assert_eq!((e.lock.to_string(), e.unlock.to_string()), ("http://h/s".into(), "http://h/s".into()));
        let e = Endpoints::parse("http://h/s", Some("http://h/s/lock"), None, "POST", "DELETE").unwrap();
        assert_eq!(e.unlock.to_string(), "http://h/s/lock");
        assert_eq!((e.lock_method, e.unlock_method), (Method::POST, Method::DELETE));
        assert!(matches!(
            Endpoints::parse("http://h/s", None, None, "LO CK", "UNLOCK"),
            Err(HttpStateError::Method { flag: "--lock-method" })
        ));
        assert!(matches!(Endpoints::parse("http://h/s", None, None, "LOCK", ""), Err(HttpStateError::Method { .. })));
    }

    #[test]
    fn credentials_come_in_pairs_and_never_show() {
        let none = Credentials::from_lookup(|_| None).unwrap();
        assert!(none.is_none());
        let only_pw = Credentials::from_lookup(|k| (k == ENV_PASSWORD).then(|| SENTINEL.to_string()));
        assert!(matches!(only_pw, Err(HttpStateError::PasswordWithoutUser)));
        let c = Credentials::from_lookup(|k| Some(if k == ENV_USERNAME { "op".into() } else { SENTINEL.into() }))
            .unwrap()
            .unwrap();
        assert!(!format!("{c:?}").contains(SENTINEL));
        let echoed = format!("denied for op:{SENTINEL}, header Basic {}", c.token());
        let r = c.redact(&echoed);
        assert!(!r.contains(SENTINEL) && !r.contains(&c.token()), "{r}");
        assert!(c.header().unwrap().is_sensitive());
        let bad = Credentials::from_lookup(|k| Some(if k == ENV_USERNAME { "op".into() } else { "a\nb".into() }))
            .unwrap()
            .unwrap();
        assert!(matches!(bad.header(), Err(HttpStateError::HeaderValue { var: ENV_PASSWORD })));
    }
}
