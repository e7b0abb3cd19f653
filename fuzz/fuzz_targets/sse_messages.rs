//! libFuzzer entry point for [`dice_mcp_fuzz::sse_messages`]. Run it with
//! `cargo xtask fuzz sse_messages`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| dice_mcp_fuzz::sse_messages(data));
