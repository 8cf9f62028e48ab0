//! Locating and running tofu (or terraform).
// Owned by issue 3 (lifecycle).
