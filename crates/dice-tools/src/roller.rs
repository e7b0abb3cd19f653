//! Rolling: turns a die count or a parsed [`Expression`] into results, with an injected RNG.

use rand::{Rng, RngExt};
use serde::Serialize;

use crate::notation::{DiceTerm, Expression, Keep, TermKind};

/// Sides of the die FastMCP's `roll_dice` rolls.
pub const D6: u32 = 6;

/// Rolls `count` fair dice with `sides` sides each.
///
/// Values are uniform in `1..=sides` (rand's unbiased integer sampling, no modulo bias).
///
/// ```
/// use rand::SeedableRng;
/// let mut rng = rand::rngs::StdRng::seed_from_u64(7);
/// let rolls = dice_tools::roll_with(&mut rng, 5, 6);
/// assert_eq!(rolls.len(), 5);
/// assert!(rolls.iter().all(|r| (1..=6).contains(r)));
/// ```
pub fn roll_with<R: Rng + ?Sized>(rng: &mut R, count: u32, sides: u32) -> Vec<u32> {
    (0..count).map(|_| rng.random_range(1..=sides)).collect()
}

/// What one term of an expression came to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TermOutcome {
    /// A dice term.
    Dice {
        /// The term in canonical notation, e.g. `4d6kh3`.
        notation: String,
        /// `-1` when subtracted, `1` otherwise.
        sign: i8,
        /// Every die rolled, in order.
        rolls: Vec<u32>,
        /// For each die in `rolls`, whether it counts.
        kept: Vec<bool>,
        /// Sum of the kept dice, with the sign applied.
        subtotal: i64,
    },
    /// A constant term.
    Constant {
        /// `-1` when subtracted, `1` otherwise.
        sign: i8,
        /// The constant's value, with the sign applied.
        value: i64,
    },
}

/// The result of rolling an [`Expression`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RollOutcome {
    /// The expression in canonical notation.
    pub expression: String,
    /// Each term's dice and subtotal.
    pub terms: Vec<TermOutcome>,
    /// The sum of all terms.
    pub total: i64,
}

/// Rolls a parsed expression.
///
/// ```
/// use rand::SeedableRng;
/// let expression = dice_tools::notation::parse("4d6kh3+2").unwrap();
/// let mut rng = rand::rngs::StdRng::seed_from_u64(1);
/// let outcome = dice_tools::evaluate_with(&mut rng, &expression);
/// assert!((5..=20).contains(&outcome.total));
/// ```
pub fn evaluate_with<R: Rng + ?Sized>(rng: &mut R, expression: &Expression) -> RollOutcome {
    let mut total = 0i64;
    let terms = expression
        .terms()
        .iter()
        .map(|term| {
            let sign: i8 = if term.negative { -1 } else { 1 };
            let outcome = match term.kind {
                TermKind::Constant(value) => TermOutcome::Constant {
                    sign,
                    value: i64::from(sign) * value,
                },
                TermKind::Dice(dice) => roll_term(rng, dice, sign),
            };
            total += match &outcome {
                TermOutcome::Dice { subtotal, .. } => *subtotal,
                TermOutcome::Constant { value, .. } => *value,
            };
            outcome
        })
        .collect();
    RollOutcome {
        expression: expression.to_string(),
        terms,
        total,
    }
}

fn roll_term<R: Rng + ?Sized>(rng: &mut R, dice: DiceTerm, sign: i8) -> TermOutcome {
    let rolls = roll_with(rng, dice.count, dice.sides);
    let kept = kept_mask(&rolls, dice.keep);
    let sum: i64 = rolls
        .iter()
        .zip(&kept)
        .filter(|(_, keep)| **keep)
        .map(|(roll, _)| i64::from(*roll))
        .sum();
    TermOutcome::Dice {
        notation: dice.to_string(),
        sign,
        rolls,
        kept,
        subtotal: i64::from(sign) * sum,
    }
}

/// Marks which dice are kept; ties go to the earlier die so the choice is deterministic.
fn kept_mask(rolls: &[u32], keep: Keep) -> Vec<bool> {
    let (count, highest) = match keep {
        Keep::All => return vec![true; rolls.len()],
        Keep::Highest(k) => (k as usize, true),
        Keep::Lowest(k) => (k as usize, false),
    };
    let mut order: Vec<usize> = (0..rolls.len()).collect();
    if highest {
        order.sort_by(|&a, &b| rolls[b].cmp(&rolls[a]).then(a.cmp(&b)));
    } else {
        order.sort_by(|&a, &b| rolls[a].cmp(&rolls[b]).then(a.cmp(&b)));
    }
    let mut mask = vec![false; rolls.len()];
    for &index in order.iter().take(count) {
        mask[index] = true;
    }
    mask
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notation::parse;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    /// Pearson's chi-square statistic of observed counts against a uniform expectation.
    fn chi_square(counts: &[u64]) -> f64 {
        let total: u64 = counts.iter().sum();
        let expected = total as f64 / counts.len() as f64;
        counts
            .iter()
            .map(|&c| (c as f64 - expected).powi(2) / expected)
            .sum()
    }

    /// Rolls per fairness check: enough for the bound to see a 2 % modulo bias.
    const SAMPLES: usize = 600_000;

    fn histogram(sides: u32, rolls: usize, seed: u64) -> Vec<u64> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut counts = vec![0u64; sides as usize];
        for value in roll_with(&mut rng, rolls as u32, sides) {
            counts[(value - 1) as usize] += 1;
        }
        counts
    }

    #[test]
    fn d6_is_fair_by_chi_square() {
        // 5 degrees of freedom: P(chi2 > 20.52) = 0.001.
        for seed in 0..5 {
            let stat = chi_square(&histogram(6, SAMPLES, seed));
            assert!(stat < 20.52, "seed {seed}: chi2 = {stat}");
        }
    }

    #[test]
    fn d20_is_fair_by_chi_square() {
        // 19 degrees of freedom: P(chi2 > 43.82) = 0.001.
        for seed in 0..10 {
            let stat = chi_square(&histogram(20, 100_000, seed));
            assert!(stat < 43.82, "seed {seed}: chi2 = {stat}");
        }
    }

    #[test]
    fn chi_square_bound_catches_modulo_bias() {
        // The bias a naive `byte % 6` gives (256 = 42*6 + 4: four faces 2.4 % likelier),
        // at the sample size the fairness test uses.
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let mut counts = [0u64; 6];
        for _ in 0..SAMPLES {
            let byte: u8 = rng.random();
            counts[usize::from(byte % 6)] += 1;
        }
        assert!(
            chi_square(&counts) > 20.52,
            "the bound must be able to fail"
        );
    }

    #[test]
    fn keep_highest_and_lowest_pick_the_right_dice() {
        assert_eq!(
            kept_mask(&[3, 6, 1, 6], Keep::Highest(2)),
            [false, true, false, true]
        );
        assert_eq!(
            kept_mask(&[3, 6, 1, 6], Keep::Lowest(1)),
            [false, false, true, false]
        );
        assert_eq!(kept_mask(&[2, 2, 2], Keep::Highest(2)), [true, true, false]);
        assert_eq!(kept_mask(&[5, 4], Keep::All), [true, true]);
    }

    #[test]
    fn evaluation_sums_kept_dice_and_constants_with_signs() {
        // Worked by hand from the seeded rolls. Seed 0: 4d6 rolls 4 5 5 3, the highest three
        // kept make 14; 1d4 rolls 3, subtracted; +2 -3: 14 - 3 + 2 - 3 = 10. Seed 1: 4 3 6 1
        // keep 4 3 6 = 13; 1d4 rolls 1; 13 - 1 + 2 - 3 = 11.
        let expression = parse("4d6kh3-1d4+2-3").unwrap();
        let expected = [
            (0, [4, 5, 5, 3], [true, true, true, false], 14, 3, 10),
            (1, [4, 3, 6, 1], [true, true, true, false], 13, 1, 11),
        ];
        for (seed, rolls, kept, kept_sum, d4, total) in expected {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let outcome = evaluate_with(&mut rng, &expression);
            assert_eq!(
                serde_json::to_value(&outcome).unwrap(),
                serde_json::json!({
                    "expression": "4d6kh3-1d4+2-3",
                    "terms": [
                        {"kind": "dice", "notation": "4d6kh3", "sign": 1, "rolls": rolls,
                         "kept": kept, "subtotal": kept_sum},
                        {"kind": "dice", "notation": "1d4", "sign": -1, "rolls": [d4],
                         "kept": [true], "subtotal": -d4},
                        {"kind": "constant", "sign": 1, "value": 2},
                        {"kind": "constant", "sign": -1, "value": -3}
                    ],
                    "total": total
                }),
                "seed {seed}"
            );
        }
    }

    #[test]
    fn keep_highest_skews_upwards() {
        let plain = parse("2d20").unwrap();
        let advantage = parse("2d20kh1").unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        let mean = |e: &Expression, rng: &mut ChaCha8Rng| {
            (0..20_000)
                .map(|_| evaluate_with(rng, e).total)
                .sum::<i64>() as f64
                / 20_000.0
        };
        // E[2d20] / 2 = 10.5; E[max of 2d20] = 13.825.
        let half_plain = mean(&plain, &mut rng) / 2.0;
        let best = mean(&advantage, &mut rng);
        assert!((half_plain - 10.5).abs() < 0.2, "{half_plain}");
        assert!((best - 13.825).abs() < 0.2, "{best}");
    }
}
