//! Nix signing keys and signatures: `name:base64` public keys (ed25519, 32 bytes) and `Sig`
//! lines (`name:base64`, 64 bytes) over a narinfo's fingerprint.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::{Signature, Verifier as _, VerifyingKey};

/// Why a trusted key is unusable. Messages name the key by its name only: a secret key pasted
/// by mistake must not be echoed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// No `name:` prefix.
    #[error("a trusted key is not `name:base64` (like `cache.example.org-1:6NCHdD59…=`)")]
    Shape,
    /// The base64 part does not decode.
    #[error("trusted key `{0}`: the part after `:` is not base64")]
    Base64(String),
    /// 64 bytes: a secret key.
    #[error(
        "trusted key `{0}` looks like a secret key (64 bytes): give the public key (`nix key convert-secret-to-public`)"
    )]
    Secret(String),
    /// Neither 32 nor 64 bytes.
    #[error("trusted key `{name}` has {len} bytes, an ed25519 public key has 32")]
    Length {
        /// Key name.
        name: String,
        /// Decoded length.
        len: usize,
    },
    /// 32 bytes that are not a curve point.
    #[error("trusted key `{0}` is not a valid ed25519 public key")]
    Point(String),
}

/// A public key trusted to sign store paths.
#[derive(Debug, Clone)]
pub struct PublicKey {
    name: String,
    key: VerifyingKey,
}

impl PublicKey {
    /// Parse `name:base64`.
    pub fn parse(s: &str) -> Result<Self, KeyError> {
        let s = s.trim();
        let Some((name, b64)) = s.split_once(':').filter(|(n, _)| !n.is_empty()) else {
            // Nothing of it is echoed: whatever was pasted might be secret material.
            return Err(KeyError::Shape);
        };
        let bytes = STANDARD.decode(b64).map_err(|_| KeyError::Base64(name.to_string()))?;
        let arr: [u8; 32] = match bytes.len() {
            32 => bytes.try_into().map_err(|_| KeyError::Point(name.to_string()))?,
            64 => return Err(KeyError::Secret(name.to_string())),
            len => return Err(KeyError::Length { name: name.to_string(), len }),
        };
        let key = VerifyingKey::from_bytes(&arr).map_err(|_| KeyError::Point(name.to_string()))?;
        Ok(Self { name: name.to_string(), key })
    }

    /// The key's name (what `Sig` lines are matched by).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `name:base64`, as Nix prints it.
    pub fn to_nix(&self) -> String {
        format!("{}:{}", self.name, STANDARD.encode(self.key.as_bytes()))
    }
}

/// The set of trusted public keys.
#[derive(Debug, Clone, Default)]
pub struct TrustedKeys(Vec<PublicKey>);

impl TrustedKeys {
    /// Parse every key; all errors at once.
    pub fn parse<'a>(keys: impl IntoIterator<Item = &'a str>) -> Result<Self, Vec<KeyError>> {
        let (ok, errs): (Vec<_>, Vec<_>) = keys.into_iter().map(PublicKey::parse).partition(Result::is_ok);
        if errs.is_empty() {
            Ok(Self(ok.into_iter().filter_map(Result::ok).collect()))
        } else {
            Err(errs.into_iter().filter_map(Result::err).collect())
        }
    }

    /// No key at all.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The key names, in order.
    pub fn key_names(&self) -> Vec<&str> {
        self.0.iter().map(|k| k.name.as_str()).collect()
    }

    /// The key names, comma-joined in backticks (for messages).
    pub fn names(&self) -> String {
        self.0.iter().map(|k| format!("`{}`", k.name)).collect::<Vec<_>>().join(", ")
    }

    /// Whether `nix_key` (`name:base64`) is one of these keys, byte for byte.
    pub fn contains(&self, nix_key: &str) -> bool {
        PublicKey::parse(nix_key).is_ok_and(|k| self.0.iter().any(|t| t.name == k.name && t.key == k.key))
    }

    /// Judge a narinfo's `Sig` lines over its fingerprint.
    pub fn verify(&self, fingerprint: &str, sigs: &[String]) -> Verdict {
        let mut failed: Option<String> = None;
        let mut signers = Vec::new();
        for sig in sigs {
            let Some((name, b64)) = sig.split_once(':') else {
                signers.push("(malformed)".to_string());
                continue;
            };
            let candidates: Vec<&PublicKey> = self.0.iter().filter(|k| k.name == name).collect();
            if candidates.is_empty() {
                signers.push(name.to_string());
                continue;
            }
            let parsed = STANDARD.decode(b64).ok().and_then(|b| Signature::from_slice(&b).ok());
            let good =
                parsed.is_some_and(|s| candidates.iter().any(|k| k.key.verify(fingerprint.as_bytes(), &s).is_ok()));
            if good {
                return Verdict::Trusted { key: name.to_string() };
            }
            failed.get_or_insert_with(|| name.to_string());
        }
        match failed {
            Some(key) => Verdict::Invalid { key },
            None => Verdict::Untrusted { signers },
        }
    }
}

/// What the signatures of one narinfo prove.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// A trusted key's signature verifies.
    Trusted {
        /// Its name.
        key: String,
    },
    /// A trusted key's signature is there but does not verify (and none other does).
    Invalid {
        /// Its name.
        key: String,
    },
    /// No signature by a trusted key.
    Untrusted {
        /// Names of the keys that did sign.
        signers: Vec<String>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    // Produced on this machine with Debian's Nix 2.8: `nix-store --generate-binary-cache-key test-1 sk pk`,
    // then `nix copy --to 'file://…?secret-key=sk'` of a `/bin/sh` derivation output.
    pub(crate) const REAL_PK: &str = "test-1:E18RLVRKZQgH8laWIWwqjeJI93PwXo9szDZy3Rqwmdk=";
    const REAL_FP: &str = "1;/nix/store/7rkjmg0sywydcv4mmg91scsax6fg2awj-gfx-b;sha256:0kk9k1mawjfihdl9f4bxhiir8hjy3k3dsxzkchzyq6cbw9fvxgpf;168;/nix/store/lxh4dwnpvcd29566kpw88i33nwgsnpfc-gfx-a";
    const REAL_SIG: &str =
        "test-1:wNolxtSXZ83JgSz9Q9dUUFyKoedBPx8t3nRDcx/OovyiDvxJX9AtYz9kxefsdxlSx3x5OGShqfR0e2nHqUcxAQ==";
    // The public cache.nixos.org key (FACTS): parses, but signs nothing here.
    const NIXOS: &str = "cache.nixos.org-1:6NCHdD59X431o0gWypbMrAURkbJ16ZPMQFGspcDShjY=";

    fn keys(k: &[&str]) -> TrustedKeys {
        TrustedKeys::parse(k.iter().copied()).unwrap()
    }

    #[test]
    fn real_signature_verifies() {
        let v = keys(&[NIXOS, REAL_PK]).verify(REAL_FP, &[REAL_SIG.to_string()]);
        assert_eq!(v, Verdict::Trusted { key: "test-1".into() });
    }

    #[test]
    fn tampered_fingerprint_is_invalid() {
        let fp = REAL_FP.replace(";168;", ";169;");
        assert_eq!(keys(&[REAL_PK]).verify(&fp, &[REAL_SIG.to_string()]), Verdict::Invalid { key: "test-1".into() });
    }

    #[test]
    fn other_signers_are_untrusted() {
        let v = keys(&[NIXOS]).verify(REAL_FP, &[REAL_SIG.to_string()]);
        assert_eq!(v, Verdict::Untrusted { signers: vec!["test-1".into()] });
        assert_eq!(keys(&[NIXOS]).verify(REAL_FP, &[]), Verdict::Untrusted { signers: vec![] });
    }

    #[test]
    fn a_good_signature_wins_over_a_bad_one() {
        let bad = "test-1:AAAA".to_string();
        let v = keys(&[REAL_PK]).verify(REAL_FP, &[bad, REAL_SIG.to_string()]);
        assert_eq!(v, Verdict::Trusted { key: "test-1".into() });
    }

    #[test]
    fn bad_keys_are_named_not_echoed() {
        assert!(matches!(PublicKey::parse("nocolon"), Err(KeyError::Shape)));
        assert_eq!(PublicKey::parse("k:!!!").unwrap_err(), KeyError::Base64("k".into()));
        let secret = format!("k:{}", STANDARD.encode([7u8; 64]));
        let e = PublicKey::parse(&secret).unwrap_err();
        assert_eq!(e, KeyError::Secret("k".into()));
        assert!(!e.to_string().contains(&secret[2..]));
        assert_eq!(PublicKey::parse("k:AAAA").unwrap_err(), KeyError::Length { name: "k".into(), len: 3 });
        assert_eq!(PublicKey::parse(REAL_PK).unwrap().to_nix(), REAL_PK);
        assert!(keys(&[REAL_PK]).contains(REAL_PK));
        assert!(!keys(&[REAL_PK]).contains(NIXOS));
    }
}
