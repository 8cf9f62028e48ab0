//! Nix store paths computed by gf itself: Nix's base-32 and the text-hashed, content-addressed
//! path that `builtins.toFile NAME TEXT` creates.

use sha2::{Digest, Sha256};

/// The store directory.
pub const STORE_DIR: &str = "/nix/store";

/// Nix's base-32 alphabet (no `e`, `o`, `u`, `t`).
pub const NIX32_ALPHABET: &[u8; 32] = b"0123456789abcdfghijklmnpqrsvwxyz";

/// Encode bytes in Nix's base-32 (least significant 5-bit group last, as `nix hash` prints).
pub fn nix32_encode(bytes: &[u8]) -> String {
    let len = (bytes.len() * 8).div_ceil(5);
    let mut out = String::with_capacity(len);
    for n in (0..len).rev() {
        let b = n * 5;
        let i = b / 8;
        let j = b % 8;
        let lo = u16::from(bytes[i]) >> j;
        let hi = if i + 1 < bytes.len() { u16::from(bytes[i + 1]) << (8 - j) } else { 0 };
        out.push(char::from(NIX32_ALPHABET[usize::from((lo | hi) & 0x1f)]));
    }
    out
}

/// Decode Nix's base-32; `None` on a bad character or length.
pub fn nix32_decode(s: &str) -> Option<Vec<u8>> {
    let len = s.len() * 5 / 8;
    let mut out = vec![0u8; len];
    for (n, c) in s.bytes().rev().enumerate() {
        let digit = u16::try_from(NIX32_ALPHABET.iter().position(|a| *a == c)?).ok()?;
        let b = n * 5;
        let i = b / 8;
        let j = b % 8;
        let v = digit << j;
        if i < len {
            out[i] |= u8::try_from(v & 0xff).ok()?;
        } else if v & 0xff != 0 {
            return None;
        }
        let carry = u8::try_from(v >> 8).ok()?;
        if i + 1 < len {
            out[i + 1] |= carry;
        } else if carry != 0 {
            return None;
        }
    }
    Some(out)
}

/// XOR-fold a digest to `size` bytes, as Nix's `compressHash`.
pub fn compress_hash(hash: &[u8], size: usize) -> Vec<u8> {
    let mut out = vec![0u8; size];
    for (i, b) in hash.iter().enumerate() {
        out[i % size] ^= b;
    }
    out
}

/// The store path of a text file with no references, as `builtins.toFile name text` makes it.
pub fn text_store_path(name: &str, text: &[u8]) -> String {
    let content = crate::backend::hex(&Sha256::digest(text));
    let fingerprint = format!("text:sha256:{content}:{STORE_DIR}:{name}");
    let digest = Sha256::digest(fingerprint.as_bytes());
    format!("{STORE_DIR}/{}-{name}", nix32_encode(&compress_hash(&digest, 20)))
}

/// Errors of talking to Nix.
#[derive(Debug, thiserror::Error)]
pub enum NixError {
    /// Not built yet.
    #[error("`--realise` is not built yet (issue 6)")]
    NotBuilt,
}

/// Create `builtins.toFile name text` in the local store through `nix` and check its path is
/// `expected`.
#[allow(clippy::unused_async)] // Issue 6 runs `nix-instantiate` here.
pub async fn realise_text(_name: &str, _text: &str, _expected: &str) -> Result<(), NixError> {
    Err(NixError::NotBuilt)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn to_file_path_matches_nix() {
        // From `nix-instantiate --eval -E 'builtins.toFile "backend-attic-dev.tfbackend" "bucket = \"x\"\n"'`.
        assert_eq!(
            text_store_path("backend-attic-dev.tfbackend", b"bucket = \"x\"\n"),
            "/nix/store/ppzmyfll726fckgg3drpj707ra2nygnh-backend-attic-dev.tfbackend"
        );
    }

    #[test]
    fn nix32_round_trips() {
        let bytes: Vec<u8> = (0u8..32).map(|i| i.wrapping_mul(37)).collect();
        let s = nix32_encode(&bytes);
        assert_eq!(s.len(), 52);
        assert_eq!(nix32_decode(&s).unwrap(), bytes);
        assert_eq!(nix32_decode("e"), None);
    }

    #[test]
    fn nix32_known_value() {
        // `nix hash to-base32 sha256:` of the empty string's SHA-256.
        let empty = Sha256::digest(b"");
        assert_eq!(nix32_encode(&empty), "0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73");
    }
}
