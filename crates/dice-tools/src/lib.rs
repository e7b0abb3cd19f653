//! Dice tools for MCP servers: FastMCP's `roll_dice` example, word for word, and a `roll`
//! tool that speaks dice notation (`4d6kh3+2`).
//!
//! This crate knows nothing about HTTP: [`DiceTools`] is an rmcp [`rmcp::ServerHandler`]
//! that any rmcp transport can serve. The rolling itself ([`roll_with`], [`evaluate_with`])
//! takes the RNG as an argument, so tests seed it; the server uses the thread-local CSPRNG
//! that rand seeds from the operating system.
//!
//! ```
//! use dice_tools::{DiceConfig, DiceTools};
//! use rand::SeedableRng;
//!
//! let tools = DiceTools::new(DiceConfig::default().with_max_dice(100)?);
//! let mut rng = rand::rngs::StdRng::seed_from_u64(7);
//! let arguments = serde_json::json!({ "expression": "4d6kh3+2" });
//! let result = tools.call_roll(&mut rng, arguments.as_object());
//! assert_eq!(result.is_error, Some(false));
//! let total = result.structured_content.as_ref().and_then(|s| s["total"].as_i64());
//! assert!(total.is_some_and(|total| (5..=20).contains(&total)));
//! # Ok::<(), dice_tools::DiceError>(())
//! ```
//!
//! To serve it over HTTP, hand it to `mcp-core`'s `McpServer` (or any rmcp transport).

pub mod notation;
mod roller;
mod server;

pub use roller::{RollOutcome, TermOutcome, evaluate_with, roll_with};
pub use server::{
    DEFAULT_MAX_DICE, DiceConfig, DiceTools, MAX_DICE_LIMIT, ROLL, ROLL_DICE, ROLL_DICE_DESCRIPTION,
};

/// Errors from configuring the dice tools.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DiceError {
    /// `max_dice` outside 1..=[`MAX_DICE_LIMIT`].
    #[error("max dice must be from 1 to {MAX_DICE_LIMIT}; got {max_dice}")]
    MaxDiceOutOfRange {
        /// The refused value.
        max_dice: u32,
    },
}
