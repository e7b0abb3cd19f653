//! Dice tools for MCP servers: FastMCP's `roll_dice` example, word for word, and a `roll`
//! tool that speaks dice notation (`4d6kh3+2`).
//!
//! This crate knows nothing about HTTP: [`DiceTools`] is an rmcp [`rmcp::ServerHandler`]
//! that any rmcp transport can serve. The rolling itself ([`roll_with`], [`evaluate_with`])
//! takes the RNG as an argument, so tests seed it; the server uses the thread-local CSPRNG
//! that rand seeds from the operating system.

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
