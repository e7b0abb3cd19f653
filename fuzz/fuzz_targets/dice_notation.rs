//! libFuzzer entry point for [`dice_mcp_fuzz::dice_notation`]. Run it with
//! `cargo xtask fuzz dice_notation`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| dice_mcp_fuzz::dice_notation(data));
