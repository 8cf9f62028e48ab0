//! `gf status` against in-memory fakes.
