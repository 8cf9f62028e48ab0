//! Store paths as Nix parses them: `/nix/store/<32 nix32 chars>-<name>`, with a clear error for
//! each way a path can be malformed.

use std::fmt;

use crate::nix::{NIX32_ALPHABET, STORE_DIR};

/// Length of the hash part of a store path (160 bits in Nix's base-32).
pub const HASH_LEN: usize = 32;

/// Longest name Nix accepts.
const NAME_MAX: usize = 211;

/// Why a string is not a store path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StorePathError {
    /// Empty input.
    #[error("empty store path")]
    Empty,
    /// Not under `/nix/store`.
    #[error("`{0}` is not in the Nix store `{STORE_DIR}`")]
    WrongStoreDir(String),
    /// A file inside a store path.
    #[error("`{path}` is inside store path `{store_path}`: give the store path itself")]
    Subpath {
        /// The input.
        path: String,
        /// The store path holding it.
        store_path: String,
    },
    /// The hash part has the wrong length.
    #[error("`{path}`: the hash part must be {HASH_LEN} characters, found {found}")]
    HashLength {
        /// The input.
        path: String,
        /// Characters before the first `-` (or in the whole base name).
        found: usize,
    },
    /// The hash part has a character outside Nix's base-32.
    #[error("`{path}`: `{ch}` in the hash part is not in Nix's base-32 alphabet (0-9 and a-z without e, o, t, u)")]
    HashAlphabet {
        /// The input.
        path: String,
        /// The offending character.
        ch: char,
    },
    /// No `-name` after the hash.
    #[error("`{0}` has no name after the hash (expected `<hash>-<name>`)")]
    EmptyName(String),
    /// A character Nix does not allow in names.
    #[error("`{path}`: `{ch}` is not allowed in a store path name (letters, digits and `+-._?=` only)")]
    NameChar {
        /// The input.
        path: String,
        /// The offending character.
        ch: char,
    },
    /// A name starting with `.`.
    #[error("`{0}`: a store path name must not start with `.`")]
    NameDot(String),
    /// A name longer than Nix allows.
    #[error("`{0}`: the name is longer than {NAME_MAX} characters")]
    NameTooLong(String),
}

/// A valid store path under `/nix/store`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StorePath {
    // `<hash>-<name>`; the hash part is the first HASH_LEN bytes (ASCII).
    base: String,
}

impl StorePath {
    /// Parse a full store path such as `/nix/store/<hash>-<name>` (one trailing `/` is accepted).
    pub fn parse(input: &str) -> Result<Self, StorePathError> {
        if input.is_empty() {
            return Err(StorePathError::Empty);
        }
        let trimmed = input.strip_suffix('/').unwrap_or(input);
        let Some(rest) = trimmed.strip_prefix(STORE_DIR).and_then(|r| r.strip_prefix('/')) else {
            return Err(StorePathError::WrongStoreDir(input.to_string()));
        };
        if let Some((base, _)) = rest.split_once('/') {
            let store_path = Self::base_name_of(input, base)?;
            return Err(StorePathError::Subpath { path: input.to_string(), store_path: store_path.to_string() });
        }
        Self::base_name_of(input, rest)
    }

    /// Parse a base name `<hash>-<name>` as narinfo `References` list them.
    pub fn from_base_name(base: &str) -> Result<Self, StorePathError> {
        if base.is_empty() {
            return Err(StorePathError::Empty);
        }
        Self::base_name_of(base, base)
    }

    fn base_name_of(input: &str, base: &str) -> Result<Self, StorePathError> {
        let path = || input.to_string();
        let hash_len = base.find('-').unwrap_or(base.len());
        if hash_len != HASH_LEN {
            return Err(StorePathError::HashLength { path: path(), found: base[..hash_len].chars().count() });
        }
        if let Some(ch) = base[..HASH_LEN].chars().find(|c| !c.is_ascii() || !NIX32_ALPHABET.contains(&(*c as u8))) {
            return Err(StorePathError::HashAlphabet { path: path(), ch });
        }
        let name = base.get(HASH_LEN + 1..).unwrap_or("");
        if name.is_empty() {
            return Err(StorePathError::EmptyName(path()));
        }
        if let Some(ch) = name.chars().find(|c| !(c.is_ascii_alphanumeric() || "+-._?=".contains(*c))) {
            return Err(StorePathError::NameChar { path: path(), ch });
        }
        if name.starts_with('.') {
            return Err(StorePathError::NameDot(path()));
        }
        if name.len() > NAME_MAX {
            return Err(StorePathError::NameTooLong(path()));
        }
        Ok(Self { base: base.to_string() })
    }

    /// The 32-character hash part (what Attic and narinfo URLs are keyed by).
    pub fn hash(&self) -> &str {
        &self.base[..HASH_LEN]
    }

    /// The name after the hash.
    pub fn name(&self) -> &str {
        &self.base[HASH_LEN + 1..]
    }

    /// `<hash>-<name>`.
    pub fn base_name(&self) -> &str {
        &self.base
    }
}

impl fmt::Display for StorePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{STORE_DIR}/{}", self.base)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // A real output path, from `nix-build` of a `/bin/sh` derivation with Debian's Nix 2.8.
    const REAL: &str = "/nix/store/7rkjmg0sywydcv4mmg91scsax6fg2awj-gfx-b";

    #[test]
    fn parses_a_real_path() {
        let p = StorePath::parse(REAL).unwrap();
        assert_eq!(p.hash(), "7rkjmg0sywydcv4mmg91scsax6fg2awj");
        assert_eq!(p.name(), "gfx-b");
        assert_eq!(p.base_name(), "7rkjmg0sywydcv4mmg91scsax6fg2awj-gfx-b");
        assert_eq!(p.to_string(), REAL);
        assert_eq!(StorePath::parse(&format!("{REAL}/")).unwrap(), p);
        assert_eq!(StorePath::from_base_name("7rkjmg0sywydcv4mmg91scsax6fg2awj-gfx-b").unwrap(), p);
    }

    #[test]
    fn malformed_paths_say_why() {
        let err = |s: &str| StorePath::parse(s).unwrap_err();
        assert_eq!(err(""), StorePathError::Empty);
        assert!(matches!(err("/gnu/store/7rkjmg0sywydcv4mmg91scsax6fg2awj-x"), StorePathError::WrongStoreDir(_)));
        assert!(matches!(err("nix/store/7rkjmg0sywydcv4mmg91scsax6fg2awj-x"), StorePathError::WrongStoreDir(_)));
        assert!(matches!(err("/nix/storefoo/7rkjmg0sywydcv4mmg91scsax6fg2awj-x"), StorePathError::WrongStoreDir(_)));
        assert!(matches!(
            err("/nix/store/7rkjmg0sywydcv4mmg91scsax6fg2aw-x"),
            StorePathError::HashLength { found: 31, .. }
        ));
        assert!(matches!(err("/nix/store/short"), StorePathError::HashLength { found: 5, .. }));
        assert!(matches!(
            err("/nix/store/7rkjmg0sywydcv4mmg91scsax6fg2awe-x"),
            StorePathError::HashAlphabet { ch: 'e', .. }
        ));
        assert!(matches!(
            err("/nix/store/7RKJMG0SYWYDCV4MMG91SCSAX6FG2AWJ-x"),
            StorePathError::HashAlphabet { ch: 'R', .. }
        ));
        assert!(matches!(err("/nix/store/7rkjmg0sywydcv4mmg91scsax6fg2awj-"), StorePathError::EmptyName(_)));
        assert!(matches!(err("/nix/store/7rkjmg0sywydcv4mmg91scsax6fg2awj"), StorePathError::EmptyName(_)));
        assert!(matches!(
            err("/nix/store/7rkjmg0sywydcv4mmg91scsax6fg2awj-a b"),
            StorePathError::NameChar { ch: ' ', .. }
        ));
        assert!(matches!(err("/nix/store/7rkjmg0sywydcv4mmg91scsax6fg2awj-.x"), StorePathError::NameDot(_)));
        let long = format!("/nix/store/7rkjmg0sywydcv4mmg91scsax6fg2awj-{}", "x".repeat(212));
        assert!(matches!(err(&long), StorePathError::NameTooLong(_)));
        match err(&format!("{REAL}/bin/sh")) {
            StorePathError::Subpath { store_path, .. } => assert_eq!(store_path, REAL),
            e => panic!("{e}"),
        }
    }

    #[test]
    fn messages_name_the_path() {
        let e = StorePath::parse("/nix/store/7rkjmg0sywydcv4mmg91scsax6fg2awe-x").unwrap_err().to_string();
        assert!(e.contains("`/nix/store/7rkjmg0sywydcv4mmg91scsax6fg2awe-x`"), "{e}");
        assert!(e.contains("base-32"), "{e}");
    }
}
