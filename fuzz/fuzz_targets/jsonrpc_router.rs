//! libFuzzer entry point for [`dice_mcp_fuzz::jsonrpc_router`]. Run it with
//! `cargo xtask fuzz jsonrpc_router`.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| dice_mcp_fuzz::jsonrpc_router(data));
