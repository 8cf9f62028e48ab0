//! Rules for names and keys of the contract, shared by `gf check` and the commands that use them.

/// Why `key` is not a relative object key, if it is not one.
pub fn key_problem(key: &str) -> Option<&'static str> {
    if key.is_empty() {
        Some("it is empty")
    } else if key.trim() != key {
        Some("it has surrounding whitespace")
    } else if key.chars().any(char::is_control) {
        Some("it contains a control character")
    } else if key.starts_with('/') {
        Some("it starts with `/`")
    } else if key.split('/').any(str::is_empty) {
        Some("it has an empty segment")
    } else if key.split('/').any(|s| s == "." || s == "..") {
        Some("it has a `.` or `..` segment")
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
        assert!(key_problem("attic//x").is_some());
        assert!(key_problem("attic/../x").is_some());
        assert!(key_problem("./x").is_some());
        assert_eq!(key_problem("attic/x\ty"), Some("it contains a control character"));
    }
}
