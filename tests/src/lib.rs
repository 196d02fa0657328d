//! Cross-service end-to-end scenarios; they live in the `e2e` test binary
//! (tests/e2e/main.rs).
