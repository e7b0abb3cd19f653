//! libFuzzer entry point for [`dice_mcp_fuzz::jwks_document`]. Run it with
//! `cargo xtask fuzz jwks_document`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| dice_mcp_fuzz::jwks_document(data));
