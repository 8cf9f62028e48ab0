//! Nix store paths computed by gf itself: Nix's base-32 and the text-hashed, content-addressed
//! path that `builtins.toFile NAME TEXT` creates.

use sha2::{Digest, Sha256};

use crate::process::{StderrTail, render_tail};

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

/// The program `--realise` runs.
pub const NIX_INSTANTIATE: &str = "nix-instantiate";

/// How many trailing lines of a failed Nix call's stderr an error carries.
const STDERR_TAIL_LINES: usize = 20;

/// Errors of talking to Nix.
#[derive(Debug, thiserror::Error)]
pub enum NixError {
    /// `nix-instantiate` is not on `PATH`.
    #[error(
        "`{NIX_INSTANTIATE}` not found on `PATH`: `--realise` needs Nix (Debian: `apt-get install nix-bin`); `--nix` alone prints the path without it"
    )]
    Missing,
    /// Nix could not be started.
    #[error("cannot run `{}`: {source}", argv.join(" "))]
    Spawn {
        /// The command line.
        argv: Vec<String>,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Talking to the running Nix failed.
    #[error("`{}`: {source}", argv.join(" "))]
    Io {
        /// The command line.
        argv: Vec<String>,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Nix exited with an error.
    #[error("`{}` failed ({status}){}", argv.join(" "), render_tail(.stderr))]
    Exit {
        /// The command line.
        argv: Vec<String>,
        /// Its exit status.
        status: std::process::ExitStatus,
        /// The last lines of its stderr.
        stderr: Vec<String>,
    },
    /// Nix printed something that is not one JSON string.
    #[error("`{}` printed `{stdout}`, not a store path", argv.join(" "))]
    Output {
        /// The command line.
        argv: Vec<String>,
        /// What it printed.
        stdout: String,
    },
    /// Nix made a different path than gf computed.
    #[error("Nix created `{actual}` but gf computed `{expected}`: gf's store-path computation disagrees with this Nix")]
    Mismatch {
        /// gf's path.
        expected: String,
        /// Nix's path.
        actual: String,
    },
}

/// A Nix string literal holding exactly `s`: every `\`, `"` and `$` escaped (no interpolation can
/// start), and line breaks and tabs as escapes.
pub fn nix_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '\\' | '"' | '$' => {
                out.push('\\');
                out.push(c);
            }
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Create `builtins.toFile name text` in the local store through `nix-instantiate` and check its
/// path is `expected`. The expression goes to Nix on stdin, so neither the name nor the text is
/// ever on a command line.
pub async fn realise_text(name: &str, text: &str, expected: &str) -> Result<(), NixError> {
    use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _};

    let nix_args = ["--eval", "--json", "--read-write-mode", "--option", "substituters", "", "-"];
    let argv: Vec<String> = std::iter::once(NIX_INSTANTIATE).chain(nix_args).map(shown).collect();
    let mut child = tokio::process::Command::new(NIX_INSTANTIATE)
        .args(nix_args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|source| match source.kind() {
            std::io::ErrorKind::NotFound => NixError::Missing,
            _ => NixError::Spawn { argv: argv.clone(), source },
        })?;
    let io = |source| NixError::Io { argv: argv.clone(), source };

    let expr = format!("builtins.toFile {} {}\n", nix_string(name), nix_string(text));
    let mut stdin = child.stdin.take().ok_or_else(|| io(std::io::Error::other("no stdin")))?;
    let mut stdout = child.stdout.take().ok_or_else(|| io(std::io::Error::other("no stdout")))?;
    let stderr = child.stderr.take().ok_or_else(|| io(std::io::Error::other("no stderr")))?;

    let write = async move {
        stdin.write_all(expr.as_bytes()).await?;
        stdin.shutdown().await
    };
    // One store path is printed: read it whole. Stderr streams into a bounded tail.
    let read_out = async move {
        let mut out = String::new();
        stdout.read_to_string(&mut out).await.map(|_| out)
    };
    let read_err = async move {
        let mut lines = tokio::io::BufReader::new(stderr).lines();
        let mut tail = StderrTail::new(STDERR_TAIL_LINES);
        while let Some(line) = lines.next_line().await? {
            tracing::debug!(target: "gf::nix", "{line}");
            tail.push(&line);
        }
        Ok::<_, std::io::Error>(tail.into_lines())
    };
    let (written, out, err) = tokio::join!(write, read_out, read_err);
    let status = child.wait().await.map_err(io)?;
    let stderr = err.map_err(io)?;
    if !status.success() {
        return Err(NixError::Exit { argv, status, stderr });
    }
    written.map_err(io)?;
    let stdout = out.map_err(io)?;
    let actual = serde_json::from_str::<String>(stdout.trim())
        .map_err(|_| NixError::Output { argv: argv.clone(), stdout: stdout.trim().to_string() })?;
    if actual != expected {
        return Err(NixError::Mismatch { expected: expected.to_string(), actual });
    }
    Ok(())
}

/// An argument as shown in messages: the empty string as `''`.
fn shown(arg: &str) -> String {
    if arg.is_empty() { "''".to_string() } else { arg.to_string() }
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
    fn nix_strings_never_interpolate() {
        assert_eq!(nix_string(r#"a"b\c${d}$e"#), r#""a\"b\\c\${d}\$e""#);
        assert_eq!(nix_string("x\ny\tz\r"), r#""x\ny\tz\r""#);
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
