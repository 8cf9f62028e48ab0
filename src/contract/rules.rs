//! Rules for names and keys of the contract, shared by `gf check` and the commands that use them.
//! `nix/backends.nix` applies the same key and environment-name rules in pure Nix.

use std::fmt::Write as _;

/// S3's limit on an object key, in bytes.
pub const S3_KEY_MAX: usize = 1024;
/// The suffix tofu's S3 backend gives a state's lock object (`use_lockfile`).
pub const LOCK_SUFFIX: &str = ".tflock";
/// The longest state key whose lock object `<key>.tflock` still fits S3's limit.
pub const STATE_KEY_MAX: usize = S3_KEY_MAX - LOCK_SUFFIX.len();
/// The pattern every environment name matches.
pub const ENV_NAME_PATTERN: &str = "^[a-z][a-z0-9-]{0,31}$";

/// Bidirectional controls: they reorder how a key reads on screen (U+202A–U+202E, U+2066–U+2069,
/// U+200E, U+200F, U+061C).
const BIDI: &[(char, char)] =
    &[('\u{202A}', '\u{202E}'), ('\u{2066}', '\u{2069}'), ('\u{200E}', '\u{200F}'), ('\u{061C}', '\u{061C}')];
/// Zero-width characters: two keys that look the same are different objects (U+200B–U+200D,
/// U+2060, U+FEFF).
const ZERO_WIDTH: &[(char, char)] = &[('\u{200B}', '\u{200D}'), ('\u{2060}', '\u{2060}'), ('\u{FEFF}', '\u{FEFF}')];

fn in_ranges(c: char, ranges: &[(char, char)]) -> bool {
    ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&c))
}

/// The first character of `s` that changes how it reads without showing itself: a control, a
/// bidirectional control or a zero-width character, with what kind it is.
pub fn hidden_char(s: &str) -> Option<(char, &'static str)> {
    s.chars().find_map(|c| {
        if c.is_control() {
            Some((c, "a control character"))
        } else if in_ranges(c, BIDI) {
            Some((c, "a bidirectional control character"))
        } else if in_ranges(c, ZERO_WIDTH) {
            Some((c, "a zero-width character"))
        } else {
            None
        }
    })
}

/// `s` as it may be shown in a message: hidden characters as `\u{…}`, and cut after 80
/// characters with its length in bytes.
pub fn shown(s: &str) -> String {
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i == 80 {
            let _ = write!(out, "… ({} bytes)", s.len());
            break;
        }
        if hidden_char(c.encode_utf8(&mut [0; 4])).is_some() {
            let _ = write!(out, "\\u{{{:04x}}}", u32::from(c));
        } else {
            out.push(c);
        }
    }
    out
}

/// Why `name` is not an environment name (`^[a-z][a-z0-9-]{0,31}$`), if it is not one. The name
/// becomes a folder (`.gf/<env>/`) and part of file and store-path names.
pub fn env_name_problem(name: &str) -> Option<String> {
    let mut chars = name.chars();
    match chars.next() {
        None => return Some("it is empty".into()),
        Some(c) if !c.is_ascii_lowercase() => return Some("it must start with a lowercase letter".into()),
        Some(_) => {}
    }
    if let Some(c) = chars.find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-')) {
        return Some(format!("`{}` is not a lowercase letter, digit or `-`", shown(c.encode_utf8(&mut [0; 4]))));
    }
    if name.len() > 32 {
        return Some(format!("it is {} characters long; at most 32", name.len()));
    }
    None
}

/// Why `key` is not a relative object key gf can use as a state key, if it is not one.
pub fn key_problem(key: &str) -> Option<String> {
    if key.is_empty() {
        Some("it is empty".into())
    } else if key.trim() != key {
        Some("it has surrounding whitespace".into())
    } else if let Some((c, kind)) = hidden_char(key) {
        Some(format!("it contains {kind} (U+{:04X})", u32::from(c)))
    } else if key.len() > STATE_KEY_MAX {
        Some(format!(
            "it is {} bytes long; S3 keys are at most {S3_KEY_MAX} bytes and its lock object `<key>{LOCK_SUFFIX}` needs {} more, so at most {STATE_KEY_MAX}",
            key.len(),
            LOCK_SUFFIX.len()
        ))
    } else if key.starts_with('/') {
        Some("it starts with `/`".into())
    } else if key.split('/').any(str::is_empty) {
        Some("it has an empty segment".into())
    } else if key.split('/').any(|s| s == "." || s == "..") {
        Some("it has a `.` or `..` segment".into())
    } else if key.ends_with(LOCK_SUFFIX) {
        Some(format!("it ends in `{LOCK_SUFFIX}`, the suffix of the S3 backend's lock objects"))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_rules() {
        assert_eq!(key_problem("attic/terraform.tfstate"), None);
        assert!(key_problem("").is_some());
        assert!(key_problem("/attic/x").is_some());
        assert!(key_problem(" attic/x").is_some());
        assert!(key_problem("attic/x\u{3000}").is_some());
        assert!(key_problem("attic//x").is_some());
        assert!(key_problem("attic/../x").is_some());
        assert!(key_problem("./x").is_some());
        assert_eq!(key_problem("attic/x\ty").as_deref(), Some("it contains a control character (U+0009)"));
    }

    #[test]
    fn hidden_characters_are_named_by_code_point() {
        for (c, kind) in [
            ('\u{202A}', "bidirectional"),
            ('\u{202E}', "bidirectional"),
            ('\u{2066}', "bidirectional"),
            ('\u{2069}', "bidirectional"),
            ('\u{200E}', "bidirectional"),
            ('\u{200F}', "bidirectional"),
            ('\u{061C}', "bidirectional"),
            ('\u{200B}', "zero-width"),
            ('\u{200C}', "zero-width"),
            ('\u{200D}', "zero-width"),
            ('\u{2060}', "zero-width"),
            ('\u{FEFF}', "zero-width"),
            ('\u{85}', "control"),
            ('\u{0}', "control"),
        ] {
            let key = format!("attic/{c}terraform.tfstate");
            let p = key_problem(&key).unwrap();
            assert!(p.contains(kind) && p.contains(&format!("U+{:04X}", u32::from(c))), "{p}");
            assert!(!shown(&key).contains(c), "{}", shown(&key));
        }
        // Neighbours of the ranges are ordinary characters.
        for c in ['\u{2029}', '\u{202F}', '\u{2065}', '\u{206A}', '\u{200A}', '\u{2061}', 'é', '€'] {
            assert_eq!(key_problem(&format!("a/{c}x")), None, "U+{:04X}", u32::from(c));
        }
    }

    #[test]
    fn a_key_and_its_lock_object_fit_s3s_limit() {
        let at_limit = "k".repeat(STATE_KEY_MAX);
        assert_eq!(key_problem(&at_limit), None);
        assert_eq!(at_limit.len() + LOCK_SUFFIX.len(), S3_KEY_MAX);
        let p = key_problem(&format!("{at_limit}k")).unwrap();
        assert!(p.contains("1018 bytes") && p.contains("at most 1017"), "{p}");
        // Bytes, not characters: 340 three-byte `€` are 1,020 bytes.
        assert!(key_problem(&"€".repeat(340)).is_some());
        assert!(shown(&"k".repeat(2000)).ends_with("… (2000 bytes)"));
    }

    #[test]
    fn lock_objects_are_not_state_keys() {
        assert!(key_problem("attic/terraform.tfstate.tflock").unwrap().contains("`.tflock`"));
        assert_eq!(key_problem("attic/terraform.tflockx"), None);
        assert_eq!(key_problem("attic/tflock"), None);
    }

    #[test]
    fn environment_names() {
        for good in ["dev", "prod-eu-1", "a", &format!("a{}", "b".repeat(31))] {
            assert_eq!(env_name_problem(good), None, "{good}");
        }
        for bad in ["", "../../escape", "Dev", "1dev", "-dev", "dev/x", "dév", "dev ", &"a".repeat(33), "a\u{202E}b"] {
            assert!(env_name_problem(bad).is_some(), "{bad:?}");
        }
        assert!(env_name_problem("a\u{202E}b").unwrap().contains("\\u{202e}"));
    }
}
