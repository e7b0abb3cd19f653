//! The `dice_notation` target: the notation parser, the roller and the `roll` tool on any
//! text, as a model might send it in `arguments.expression`.

use dice_tools::{
    DiceTools, RollOutcome, TermOutcome, evaluate_with,
    notation::{
        self, Expression, Keep, MAX_CONSTANT, MAX_DICE_PER_EXPRESSION, MAX_DICE_PER_TERM,
        MAX_EXPRESSION_BYTES, MAX_SIDES, MIN_SIDES, TermKind,
    },
};
use rand::{SeedableRng, rngs::StdRng};
use serde_json::{Map, Value};

/// Parses the input as dice notation and checks: a refusal has a message and makes the
/// `roll` tool answer `isError`; an accepted expression is within every documented bound,
/// prints in a canonical form that parses back to itself, and rolls to an outcome whose
/// dice, kept dice, subtotals and total agree with one another and with the expression.
/// Input that is not UTF-8 is skipped: it cannot arrive inside a JSON string.
pub fn dice_notation(data: &[u8]) {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };
    let mut arguments = Map::new();
    arguments.insert("expression".into(), Value::String(input.to_owned()));
    // A fixed seed: the same input rolls the same dice, so a crash replays.
    let mut rng = StdRng::seed_from_u64(0x5eed);
    let tool_result = DiceTools::default().call_roll(&mut rng, Some(&arguments));
    match notation::parse(input) {
        Err(error) => {
            assert!(!error.to_string().is_empty(), "a refusal without a message");
            assert_eq!(
                tool_result.is_error,
                Some(true),
                "the roll tool accepted what the parser refused: {error}"
            );
        }
        Ok(expression) => {
            assert_ne!(
                tool_result.is_error,
                Some(true),
                "the roll tool refused what the parser accepted"
            );
            assert!(
                input.len() <= MAX_EXPRESSION_BYTES,
                "accepted an overlong input"
            );
            check_bounds(&expression);
            check_canonical_form(&expression);
            let outcome = evaluate_with(&mut rng, &expression);
            check_outcome(&expression, &outcome);
        }
    }
}

fn check_bounds(expression: &Expression) {
    assert!(
        !expression.terms().is_empty(),
        "an expression with no terms"
    );
    let mut total_dice = 0u64;
    for term in expression.terms() {
        match term.kind {
            TermKind::Constant(value) => {
                assert!((0..=MAX_CONSTANT).contains(&value), "constant {value}");
            }
            TermKind::Dice(dice) => {
                assert!((1..=MAX_DICE_PER_TERM).contains(&dice.count), "{dice}");
                assert!((MIN_SIDES..=MAX_SIDES).contains(&dice.sides), "{dice}");
                if let Keep::Highest(keep) | Keep::Lowest(keep) = dice.keep {
                    assert!((1..=dice.count).contains(&keep), "{dice}");
                }
                total_dice += u64::from(dice.count);
            }
        }
    }
    assert!(total_dice <= u64::from(MAX_DICE_PER_EXPRESSION));
    assert_eq!(u64::from(expression.dice_count()), total_dice);
}

fn check_canonical_form(expression: &Expression) {
    let canonical = expression.to_string();
    // `d8` prints as `1d8`, so a long input may print longer than the input limit.
    if canonical.len() <= MAX_EXPRESSION_BYTES {
        assert_eq!(
            notation::parse(&canonical).as_ref(),
            Ok(expression),
            "the canonical form {canonical:?} does not parse back to the same expression"
        );
    }
}

fn check_outcome(expression: &Expression, outcome: &RollOutcome) {
    assert_eq!(outcome.expression, expression.to_string());
    assert_eq!(outcome.terms.len(), expression.terms().len());
    let mut total = 0i64;
    for (term, result) in expression.terms().iter().zip(&outcome.terms) {
        let sign: i64 = if term.negative { -1 } else { 1 };
        match (term.kind, result) {
            (TermKind::Constant(constant), TermOutcome::Constant { value, .. }) => {
                assert_eq!(*value, sign * constant);
                total += value;
            }
            (
                TermKind::Dice(dice),
                TermOutcome::Dice {
                    rolls,
                    kept,
                    subtotal,
                    ..
                },
            ) => {
                assert_eq!(rolls.len(), dice.count as usize, "{dice}");
                assert_eq!(kept.len(), rolls.len(), "{dice}");
                assert!(rolls.iter().all(|roll| (1..=dice.sides).contains(roll)));
                let (kept_rolls, dropped): (Vec<_>, Vec<_>) =
                    rolls.iter().zip(kept).partition(|(_, keep)| **keep);
                let kept_rolls: Vec<u32> = kept_rolls.into_iter().map(|(roll, _)| *roll).collect();
                let dropped: Vec<u32> = dropped.into_iter().map(|(roll, _)| *roll).collect();
                match dice.keep {
                    Keep::All => assert!(dropped.is_empty(), "{dice} dropped dice"),
                    Keep::Highest(keep) => {
                        assert_eq!(kept_rolls.len(), keep as usize, "{dice}");
                        let lowest_kept = kept_rolls.iter().min();
                        let highest_dropped = dropped.iter().max();
                        if let (Some(low), Some(high)) = (lowest_kept, highest_dropped) {
                            assert!(low >= high, "{dice} kept {low} but dropped {high}");
                        }
                    }
                    Keep::Lowest(keep) => {
                        assert_eq!(kept_rolls.len(), keep as usize, "{dice}");
                        let highest_kept = kept_rolls.iter().max();
                        let lowest_dropped = dropped.iter().min();
                        if let (Some(high), Some(low)) = (highest_kept, lowest_dropped) {
                            assert!(high <= low, "{dice} kept {high} but dropped {low}");
                        }
                    }
                }
                let sum: i64 = kept_rolls.iter().map(|roll| i64::from(*roll)).sum();
                assert_eq!(*subtotal, sign * sum, "{dice}");
                total += subtotal;
            }
            (kind, result) => panic!("term {kind:?} came out as {result:?}"),
        }
    }
    assert_eq!(outcome.total, total);
}
