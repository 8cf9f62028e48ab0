//! `.narinfo` files (NixOS/nix libstore `NarInfo`) and `nix-cache-info`: parsing, and the
//! fingerprint Nix signs.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::storepath::{StorePath, StorePathError};
use crate::nix::{nix32_decode, nix32_encode};

/// Why a narinfo cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NarInfoError {
    /// A line without `: `.
    #[error("line {0} is not `Key: value`")]
    Line(usize),
    /// A field given twice (only `Sig` repeats).
    #[error("`{0}` appears twice")]
    Duplicate(String),
    /// A required field is absent.
    #[error("`{0}` is missing")]
    Missing(&'static str),
    /// `StorePath` or a reference is not a store path.
    #[error("{field}: {source}")]
    Path {
        /// Which field.
        field: &'static str,
        /// Why.
        source: StorePathError,
    },
    /// `NarHash` is not a SHA-256 in a form Nix writes.
    #[error("`NarHash` `{0}` is not a sha256 hash")]
    NarHash(String),
    /// `NarSize` is not a number.
    #[error("`NarSize` `{0}` is not a number")]
    NarSize(String),
}

/// The fields of a narinfo that matter to the gate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NarInfo {
    /// `StorePath`.
    pub store_path: StorePath,
    /// `NarHash`, normalized to `sha256:<nix32>` as the fingerprint needs it.
    pub nar_hash: String,
    /// `NarSize`.
    pub nar_size: u64,
    /// `References`, sorted and unique as Nix holds them (a `StorePathSet`).
    pub references: Vec<StorePath>,
    /// `Sig` lines.
    pub sigs: Vec<String>,
    /// `CA`, for content-addressed paths.
    pub ca: Option<String>,
}

impl NarInfo {
    /// Parse narinfo text. Unknown fields are ignored, as Nix does.
    pub fn parse(text: &str) -> Result<Self, NarInfoError> {
        let mut store_path = None;
        let mut nar_hash = None;
        let mut nar_size = None;
        let mut url = false;
        let mut references = None;
        let mut sigs = Vec::new();
        let mut ca = None;
        let mut seen: Vec<&str> = Vec::new();
        for (i, line) in text.lines().enumerate() {
            if line.is_empty() {
                continue;
            }
            let (key, value) = line
                .split_once(": ")
                .or_else(|| line.strip_suffix(':').map(|k| (k, "")))
                .ok_or(NarInfoError::Line(i + 1))?;
            if key == "Sig" {
                sigs.push(value.to_string());
                continue;
            }
            if seen.contains(&key) {
                return Err(NarInfoError::Duplicate(key.to_string()));
            }
            seen.push(key);
            match key {
                "StorePath" => {
                    store_path = Some(
                        StorePath::parse(value).map_err(|source| NarInfoError::Path { field: "StorePath", source })?,
                    );
                }
                "NarHash" => {
                    nar_hash = Some(normalize_sha256(value).ok_or_else(|| NarInfoError::NarHash(value.into()))?);
                }
                "NarSize" => nar_size = Some(value.parse::<u64>().map_err(|_| NarInfoError::NarSize(value.into()))?),
                "URL" => url = !value.is_empty(),
                "References" => {
                    let mut refs = value
                        .split_whitespace()
                        .map(StorePath::from_base_name)
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(|source| NarInfoError::Path { field: "References", source })?;
                    refs.sort();
                    refs.dedup();
                    references = Some(refs);
                }
                "CA" if !value.is_empty() => ca = Some(value.to_string()),
                _ => {}
            }
        }
        if !url {
            return Err(NarInfoError::Missing("URL"));
        }
        Ok(Self {
            store_path: store_path.ok_or(NarInfoError::Missing("StorePath"))?,
            nar_hash: nar_hash.ok_or(NarInfoError::Missing("NarHash"))?,
            nar_size: nar_size.ok_or(NarInfoError::Missing("NarSize"))?,
            references: references.unwrap_or_default(),
            sigs,
            ca,
        })
    }

    /// `1;<StorePath>;<NarHash>;<NarSize>;<references as full paths, comma-joined>`: what Nix signs.
    pub fn fingerprint(&self) -> String {
        let refs: Vec<String> = self.references.iter().map(ToString::to_string).collect();
        format!("1;{};{};{};{}", self.store_path, self.nar_hash, self.nar_size, refs.join(","))
    }
}

/// `sha256:<nix32|hex|base64>` or SRI `sha256-<base64>`, as `sha256:<nix32>`.
fn normalize_sha256(s: &str) -> Option<String> {
    let bytes = if let Some(h) = s.strip_prefix("sha256:") {
        match h.len() {
            52 => nix32_decode(h)?,
            64 => {
                (0..32).map(|i| u8::from_str_radix(h.get(2 * i..2 * i + 2)?, 16).ok()).collect::<Option<Vec<u8>>>()?
            }
            44 => STANDARD.decode(h).ok()?,
            _ => return None,
        }
    } else {
        STANDARD.decode(s.strip_prefix("sha256-")?).ok()?
    };
    (bytes.len() == 32).then(|| format!("sha256:{}", nix32_encode(&bytes)))
}

/// `nix-cache-info`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheInfo {
    /// `StoreDir`.
    pub store_dir: String,
    /// `Priority`, when given.
    pub priority: Option<i64>,
}

impl CacheInfo {
    /// Parse `nix-cache-info`; `None` when `StoreDir` is absent.
    pub fn parse(text: &str) -> Option<Self> {
        let mut store_dir = None;
        let mut priority = None;
        for line in text.lines() {
            match line.split_once(':').map(|(k, v)| (k.trim(), v.trim())) {
                Some(("StoreDir", v)) => store_dir = Some(v.to_string()),
                Some(("Priority", v)) => priority = v.parse().ok(),
                _ => {}
            }
        }
        Some(Self { store_dir: store_dir?, priority })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Written by Debian's Nix 2.8 on this machine: `nix copy --to 'file://…?secret-key=sk&compression=xz'`
    // of `gfx-b`, a `/bin/sh` derivation output referencing `gfx-a`.
    pub(crate) const REAL: &str = "StorePath: /nix/store/7rkjmg0sywydcv4mmg91scsax6fg2awj-gfx-b
URL: nar/0frfy7zbxpz4j1fapmyd4w6cnr3jysm6q6vdb6f8343y1lpizc4l.nar.xz
Compression: xz
FileHash: sha256:0frfy7zbxpz4j1fapmyd4w6cnr3jysm6q6vdb6f8343y1lpizc4l
FileSize: 172
NarHash: sha256:0kk9k1mawjfihdl9f4bxhiir8hjy3k3dsxzkchzyq6cbw9fvxgpf
NarSize: 168
References: lxh4dwnpvcd29566kpw88i33nwgsnpfc-gfx-a
Deriver: ksbrn1mdv668klf5rgrhqsz8zzc2bdrv-gfx-b.drv
Sig: test-1:wNolxtSXZ83JgSz9Q9dUUFyKoedBPx8t3nRDcx/OovyiDvxJX9AtYz9kxefsdxlSx3x5OGShqfR0e2nHqUcxAQ==
";
    const REAL_LEAF: &str = "StorePath: /nix/store/lxh4dwnpvcd29566kpw88i33nwgsnpfc-gfx-a
URL: nar/17gd6zzlkx90irc6qawagdkgh1d7qvlnq46yjf7xiqw9ycz7zq4a.nar.xz
Compression: xz
FileHash: sha256:17gd6zzlkx90irc6qawagdkgh1d7qvlnq46yjf7xiqw9ycz7zq4a
FileSize: 128
NarHash: sha256:04zwf782yjwnh3q6hz5izfd6jyip8kgw6g6yj43fiqhbyhdd0dqw
NarSize: 120
References: 
Deriver: k5358n2ac96za8w5p6vh7fcfqmr0jc9z-gfx-a.drv
Sig: test-1:b5x266hGeYL1sf9ModfEIQ39mlf0417oN1cUdAF7otE34UhRzww+TRnXXsV3tnfSIQB5S8XZRnEAxfUT1Pf8CQ==
";
    const PK: &str = "test-1:E18RLVRKZQgH8laWIWwqjeJI93PwXo9szDZy3Rqwmdk=";

    fn trusted() -> super::super::signature::TrustedKeys {
        super::super::signature::TrustedKeys::parse([PK]).unwrap()
    }

    #[test]
    fn real_narinfos_verify() {
        for text in [REAL, REAL_LEAF] {
            let n = NarInfo::parse(text).unwrap();
            assert_eq!(
                trusted().verify(&n.fingerprint(), &n.sigs),
                super::super::signature::Verdict::Trusted { key: "test-1".into() },
                "{}",
                n.fingerprint()
            );
        }
        let n = NarInfo::parse(REAL).unwrap();
        assert_eq!(
            n.fingerprint(),
            "1;/nix/store/7rkjmg0sywydcv4mmg91scsax6fg2awj-gfx-b;sha256:0kk9k1mawjfihdl9f4bxhiir8hjy3k3dsxzkchzyq6cbw9fvxgpf;168;/nix/store/lxh4dwnpvcd29566kpw88i33nwgsnpfc-gfx-a"
        );
        assert_eq!(n.references.len(), 1);
        assert!(NarInfo::parse(REAL_LEAF).unwrap().references.is_empty());
    }

    #[test]
    fn other_hash_forms_give_the_same_fingerprint() {
        let n = NarInfo::parse(REAL).unwrap();
        let raw = nix32_decode("0kk9k1mawjfihdl9f4bxhiir8hjy3k3dsxzkchzyq6cbw9fvxgpf").unwrap();
        let hex = crate::backend::hex(&raw);
        for form in [
            format!("sha256:{hex}"),
            format!("sha256:{}", STANDARD.encode(&raw)),
            format!("sha256-{}", STANDARD.encode(&raw)),
        ] {
            let text = REAL.replace("sha256:0kk9k1mawjfihdl9f4bxhiir8hjy3k3dsxzkchzyq6cbw9fvxgpf", &form);
            assert_eq!(NarInfo::parse(&text).unwrap().fingerprint(), n.fingerprint(), "{form}");
        }
    }

    #[test]
    fn tampering_breaks_the_signature() {
        let text = REAL.replace("NarSize: 168", "NarSize: 169");
        let n = NarInfo::parse(&text).unwrap();
        assert_eq!(
            trusted().verify(&n.fingerprint(), &n.sigs),
            super::super::signature::Verdict::Invalid { key: "test-1".into() }
        );
        let text = REAL.replace("References: lxh4dwnpvcd29566kpw88i33nwgsnpfc-gfx-a", "References: ");
        let n = NarInfo::parse(&text).unwrap();
        assert!(matches!(
            trusted().verify(&n.fingerprint(), &n.sigs),
            super::super::signature::Verdict::Invalid { .. }
        ));
    }

    #[test]
    fn malformed_narinfos_say_why() {
        assert_eq!(NarInfo::parse("garbage").unwrap_err(), NarInfoError::Line(1));
        assert_eq!(NarInfo::parse(&REAL.replace("URL: ", "X: ")).unwrap_err(), NarInfoError::Missing("URL"));
        assert_eq!(
            NarInfo::parse(&REAL.replace("NarSize: 168", "NarSize: x")).unwrap_err(),
            NarInfoError::NarSize("x".into())
        );
        assert!(matches!(
            NarInfo::parse(&REAL.replace("NarHash: sha256:0", "NarHash: md5:0")),
            Err(NarInfoError::NarHash(_))
        ));
        assert_eq!(
            NarInfo::parse(&format!("{REAL}NarSize: 1\n")).unwrap_err(),
            NarInfoError::Duplicate("NarSize".into())
        );
        assert!(matches!(
            NarInfo::parse(&REAL.replace("References: lxh4", "References: lxh")),
            Err(NarInfoError::Path { field: "References", .. })
        ));
        assert!(matches!(
            NarInfo::parse(&REAL.replace("StorePath: /nix/store/", "StorePath: /gnu/store/")),
            Err(NarInfoError::Path { field: "StorePath", .. })
        ));
    }

    #[test]
    fn cache_info_parses() {
        let i = CacheInfo::parse("StoreDir: /nix/store\nWantMassQuery: 1\nPriority: 41\n").unwrap();
        assert_eq!(i, CacheInfo { store_dir: "/nix/store".into(), priority: Some(41) });
        assert_eq!(CacheInfo::parse("WantMassQuery: 1\n"), None);
    }
}
