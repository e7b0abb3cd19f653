//! libFuzzer entry point for [`dice_mcp_fuzz::authorization_header`]. Run it with
//! `cargo xtask fuzz authorization_header`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| dice_mcp_fuzz::authorization_header(data));
