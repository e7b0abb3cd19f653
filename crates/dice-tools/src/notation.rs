//! Dice notation: parsing `4d6kh3+2`, `2d20kl1`, `d8+1d4-1` into an [`Expression`].
//!
//! Grammar (ASCII whitespace between tokens is ignored, `d`/`D` and `k`/`K` alike):
//!
//! ```text
//! expression := sign? term (sign term)*
//! sign       := "+" | "-"
//! term       := integer | count? "d" sides keep?
//! keep       := ("kh" | "kl") integer
//! ```
//!
//! Every bound is checked while parsing, before a single die is rolled, so a hostile
//! expression can never make the roller allocate more than [`MAX_DICE_PER_EXPRESSION`] values.

use std::fmt;

/// Longest expression accepted, in bytes.
pub const MAX_EXPRESSION_BYTES: usize = 256;
/// Most dice one `NdM` term may roll.
pub const MAX_DICE_PER_TERM: u32 = 1_000;
/// Most dice a whole expression may roll.
pub const MAX_DICE_PER_EXPRESSION: u32 = 10_000;
/// Fewest sides a die may have.
pub const MIN_SIDES: u32 = 2;
/// Most sides a die may have.
pub const MAX_SIDES: u32 = 1_000_000;
/// Largest absolute value of a constant term.
pub const MAX_CONSTANT: i64 = 1_000_000;

/// Why an expression was refused. Every message says what is allowed instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NotationError {
    /// The expression is empty or only whitespace.
    #[error("the expression is empty; write dice notation such as \"4d6kh3+2\" or \"2d20kl1\"")]
    Empty,
    /// The expression is longer than [`MAX_EXPRESSION_BYTES`].
    #[error("the expression is {len} bytes long; at most {MAX_EXPRESSION_BYTES} bytes are allowed")]
    TooLong {
        /// Length of the refused expression in bytes.
        len: usize,
    },
    /// A character that has no place in dice notation.
    #[error(
        "unexpected {found} at byte {at}; dice notation is terms like \"3\", \"d8\" or \"4d6kh3\" joined by '+' or '-'"
    )]
    Unexpected {
        /// Byte offset of the problem.
        at: usize,
        /// What was found there, described for a person.
        found: String,
    },
    /// A number too large to be meaningful.
    #[error("the number at byte {at} is too large")]
    NumberTooLarge {
        /// Byte offset of the number.
        at: usize,
    },
    /// A term asks for zero dice or more than [`MAX_DICE_PER_TERM`].
    #[error("a term rolls {count} dice; each term may roll 1 to {MAX_DICE_PER_TERM} dice")]
    DiceCount {
        /// The requested number of dice.
        count: u64,
    },
    /// A die with too few or too many sides.
    #[error("a die has {sides} sides; dice may have {MIN_SIDES} to {MAX_SIDES} sides")]
    Sides {
        /// The requested number of sides.
        sides: u64,
    },
    /// `khK`/`klK` with K of zero or above the number of dice in the term.
    #[error("the term \"{term}\" keeps {keep} dice; it may keep 1 to {count}")]
    Keep {
        /// The term as written, normalised.
        term: String,
        /// Requested keep count.
        keep: u64,
        /// Dice in the term.
        count: u32,
    },
    /// A constant term larger than [`MAX_CONSTANT`].
    #[error("the constant {value} is too large; constants may be at most {MAX_CONSTANT}")]
    Constant {
        /// The constant as parsed.
        value: u64,
    },
    /// More than [`MAX_DICE_PER_EXPRESSION`] dice in total.
    #[error(
        "the expression rolls {total} dice in all; at most {MAX_DICE_PER_EXPRESSION} are allowed"
    )]
    TotalDice {
        /// Dice across all terms.
        total: u64,
    },
}

/// Which dice of a term count towards the total.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// Every die counts.
    All,
    /// Only the K highest dice count (`khK`).
    Highest(u32),
    /// Only the K lowest dice count (`klK`).
    Lowest(u32),
}

/// One `NdM[khK|klK]` term.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiceTerm {
    /// Number of dice, 1..=[`MAX_DICE_PER_TERM`].
    pub count: u32,
    /// Sides per die, [`MIN_SIDES`]..=[`MAX_SIDES`].
    pub sides: u32,
    /// Which dice are kept.
    pub keep: Keep,
}

/// A term of an expression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TermKind {
    /// Dice to roll.
    Dice(DiceTerm),
    /// A constant, 0..=[`MAX_CONSTANT`].
    Constant(i64),
}

/// A term and whether it is added or subtracted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Term {
    /// `true` when the term is subtracted.
    pub negative: bool,
    /// What the term is.
    pub kind: TermKind,
}

/// A parsed, bounds-checked dice expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expression {
    terms: Vec<Term>,
}

impl Expression {
    /// The terms in the order written.
    pub fn terms(&self) -> &[Term] {
        &self.terms
    }

    /// Total number of dice the expression rolls (at most [`MAX_DICE_PER_EXPRESSION`]).
    pub fn dice_count(&self) -> u32 {
        self.terms
            .iter()
            .map(|term| match term.kind {
                TermKind::Dice(dice) => dice.count,
                TermKind::Constant(_) => 0,
            })
            .sum()
    }
}

impl fmt::Display for DiceTerm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}d{}", self.count, self.sides)?;
        match self.keep {
            Keep::All => Ok(()),
            Keep::Highest(k) => write!(f, "kh{k}"),
            Keep::Lowest(k) => write!(f, "kl{k}"),
        }
    }
}

impl fmt::Display for Expression {
    /// The canonical form: `d8` becomes `1d8`, whitespace is dropped.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, term) in self.terms.iter().enumerate() {
            if term.negative {
                f.write_str("-")?;
            } else if index > 0 {
                f.write_str("+")?;
            }
            match term.kind {
                TermKind::Dice(dice) => write!(f, "{dice}")?,
                TermKind::Constant(value) => write!(f, "{value}")?,
            }
        }
        Ok(())
    }
}

impl std::str::FromStr for Expression {
    type Err = NotationError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        parse(input)
    }
}

/// Parses and bounds-checks dice notation.
///
/// ```
/// use dice_tools::notation::{parse, Keep, TermKind};
///
/// let expression = parse("4d6kh3+2").unwrap();
/// assert_eq!(expression.to_string(), "4d6kh3+2");
/// let TermKind::Dice(dice) = expression.terms()[0].kind else { panic!() };
/// assert_eq!((dice.count, dice.sides, dice.keep), (4, 6, Keep::Highest(3)));
/// assert!(parse("1001d6").is_err());
/// ```
pub fn parse(input: &str) -> Result<Expression, NotationError> {
    if input.len() > MAX_EXPRESSION_BYTES {
        return Err(NotationError::TooLong { len: input.len() });
    }
    let mut cursor = Cursor {
        bytes: input.as_bytes(),
        at: 0,
    };
    cursor.skip_space();
    if cursor.peek().is_none() {
        return Err(NotationError::Empty);
    }
    let mut terms = Vec::new();
    let mut total_dice: u64 = 0;
    loop {
        cursor.skip_space();
        let negative = match cursor.peek() {
            Some(b'+') => {
                cursor.at += 1;
                false
            }
            Some(b'-') => {
                cursor.at += 1;
                true
            }
            // Only the first term may go without a sign.
            _ if terms.is_empty() => false,
            _ => return Err(cursor.unexpected()),
        };
        cursor.skip_space();
        let kind = cursor.term()?;
        if let TermKind::Dice(dice) = kind {
            total_dice += u64::from(dice.count);
            if total_dice > u64::from(MAX_DICE_PER_EXPRESSION) {
                return Err(NotationError::TotalDice { total: total_dice });
            }
        }
        terms.push(Term { negative, kind });
        cursor.skip_space();
        if cursor.peek().is_none() {
            return Ok(Expression { terms });
        }
    }
}

struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn skip_space(&mut self) {
        while self.peek().is_some_and(|b| b.is_ascii_whitespace()) {
            self.at += 1;
        }
    }

    fn unexpected(&self) -> NotationError {
        let found = match self.peek() {
            None => "end of expression".to_owned(),
            Some(b) if b.is_ascii_graphic() => format!("'{}'", char::from(b)),
            Some(b) => format!("byte 0x{b:02x}"),
        };
        NotationError::Unexpected { at: self.at, found }
    }

    /// Reads a decimal number; `None` when there are no digits here.
    fn number(&mut self) -> Result<Option<u64>, NotationError> {
        let start = self.at;
        let mut value: u64 = 0;
        while let Some(digit) = self.peek().filter(u8::is_ascii_digit) {
            value = value
                .checked_mul(10)
                .and_then(|v| v.checked_add(u64::from(digit - b'0')))
                .ok_or(NotationError::NumberTooLarge { at: start })?;
            self.at += 1;
        }
        Ok((self.at > start).then_some(value))
    }

    fn required_number(&mut self) -> Result<u64, NotationError> {
        self.number()?.ok_or_else(|| self.unexpected())
    }

    fn eat_ignore_case(&mut self, letter: u8) -> bool {
        if self.peek().is_some_and(|b| b.eq_ignore_ascii_case(&letter)) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn term(&mut self) -> Result<TermKind, NotationError> {
        let count = self.number()?;
        if !self.eat_ignore_case(b'd') {
            return match count {
                Some(value) if value <= MAX_CONSTANT.unsigned_abs() => Ok(TermKind::Constant(
                    i64::try_from(value).unwrap_or(MAX_CONSTANT),
                )),
                Some(value) => Err(NotationError::Constant { value }),
                None => Err(self.unexpected()),
            };
        }
        let count = count.unwrap_or(1);
        if count == 0 || count > u64::from(MAX_DICE_PER_TERM) {
            return Err(NotationError::DiceCount { count });
        }
        let sides = self.required_number()?;
        if !(u64::from(MIN_SIDES)..=u64::from(MAX_SIDES)).contains(&sides) {
            return Err(NotationError::Sides { sides });
        }
        // Both fit in u32: checked against u32 bounds just above.
        let (count, sides) = (count as u32, sides as u32);
        let keep = if self.eat_ignore_case(b'k') {
            let highest = if self.eat_ignore_case(b'h') {
                true
            } else if self.eat_ignore_case(b'l') {
                false
            } else {
                return Err(self.unexpected());
            };
            let keep = self.required_number()?;
            if keep == 0 || keep > u64::from(count) {
                let written = DiceTerm {
                    count,
                    sides,
                    keep: Keep::All,
                };
                let suffix = if highest { "kh" } else { "kl" };
                return Err(NotationError::Keep {
                    term: format!("{written}{suffix}{keep}"),
                    keep,
                    count,
                });
            }
            let keep = keep as u32;
            if highest {
                Keep::Highest(keep)
            } else {
                Keep::Lowest(keep)
            }
        } else {
            Keep::All
        };
        Ok(TermKind::Dice(DiceTerm { count, sides, keep }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_the_documented_examples() {
        for (input, canonical) in [
            ("4d6kh3+2", "4d6kh3+2"),
            ("2d20kl1", "2d20kl1"),
            ("d8+1d4-1", "1d8+1d4-1"),
            (" 3D6 ", "3d6"),
            ("-1d4 + 10", "-1d4+10"),
            ("7", "7"),
            ("2D20KH1", "2d20kh1"),
        ] {
            assert_eq!(
                parse(input).map(|e| e.to_string()),
                Ok(canonical.to_owned()),
                "{input}"
            );
        }
    }

    #[test]
    fn refuses_bad_notation_with_a_reason() {
        assert_eq!(parse(""), Err(NotationError::Empty));
        assert_eq!(parse("   "), Err(NotationError::Empty));
        assert!(matches!(
            parse("4d6+"),
            Err(NotationError::Unexpected { .. })
        ));
        assert!(matches!(
            parse("4x6"),
            Err(NotationError::Unexpected { .. })
        ));
        assert!(matches!(parse("d"), Err(NotationError::Unexpected { .. })));
        assert!(matches!(
            parse("4d6k3"),
            Err(NotationError::Unexpected { .. })
        ));
        assert!(matches!(
            parse("3 4"),
            Err(NotationError::Unexpected { .. })
        ));
        assert_eq!(parse("0d6"), Err(NotationError::DiceCount { count: 0 }));
        assert_eq!(
            parse("1001d6"),
            Err(NotationError::DiceCount { count: 1001 })
        );
        assert_eq!(parse("1d1"), Err(NotationError::Sides { sides: 1 }));
        assert_eq!(
            parse("1d1000001"),
            Err(NotationError::Sides { sides: 1_000_001 })
        );
        assert!(matches!(
            parse("4d6kh5"),
            Err(NotationError::Keep {
                keep: 5,
                count: 4,
                ..
            })
        ));
        assert!(matches!(
            parse("4d6kl0"),
            Err(NotationError::Keep { keep: 0, .. })
        ));
        assert_eq!(
            parse("1000001"),
            Err(NotationError::Constant { value: 1_000_001 })
        );
        assert_eq!(
            parse("99999999999999999999999d6"),
            Err(NotationError::NumberTooLarge { at: 0 })
        );
        let long = "1+".repeat(200);
        assert!(matches!(
            parse(&long),
            Err(NotationError::TooLong { len: 400 })
        ));
    }

    #[test]
    fn total_dice_are_capped_before_rolling() {
        let ten_thousand = ["1000d6"; 10].join("+");
        assert_eq!(parse(&ten_thousand).map(|e| e.dice_count()), Ok(10_000));
        let one_more = format!("{ten_thousand}+1d6");
        assert_eq!(
            parse(&one_more),
            Err(NotationError::TotalDice { total: 10_001 })
        );
    }

    fn term_strategy() -> impl Strategy<Value = String> {
        prop_oneof![
            (0u32..=2000).prop_map(|c| c.to_string()),
            (1u32..=1000, 2u32..=1_000_000).prop_map(|(c, s)| format!("{c}d{s}")),
            (2u32..=100).prop_map(|s| format!("d{s}")),
            (1u32..=50, 2u32..=20, any::<bool>(), 1u32..=50)
                .prop_map(|(c, s, h, k)| { format!("{c}d{s}k{}{k}", if h { 'h' } else { 'l' }) }),
        ]
    }

    proptest! {
        #[test]
        fn never_panics_on_arbitrary_input(input in ".{0,300}") {
            let _ = parse(&input);
        }

        #[test]
        fn never_panics_on_notation_like_input(input in "[0-9dDkKhHlL+\\- ]{0,64}") {
            if let Ok(expression) = parse(&input) {
                prop_assert!(expression.dice_count() <= MAX_DICE_PER_EXPRESSION);
            }
        }

        #[test]
        fn canonical_form_reparses_to_the_same_expression(
            terms in proptest::collection::vec((any::<bool>(), term_strategy()), 1..6)
        ) {
            let input: String = terms
                .iter()
                .enumerate()
                .map(|(i, (neg, t))| match (i, neg) {
                    (0, false) => t.clone(),
                    (_, true) => format!("-{t}"),
                    (_, false) => format!("+{t}"),
                })
                .collect();
            match parse(&input) {
                Ok(expression) => {
                    let again = parse(&expression.to_string());
                    prop_assert_eq!(again, Ok(expression));
                }
                // Only the bounds may refuse these well-formed inputs.
                Err(error) => prop_assert!(
                    matches!(error, NotationError::Constant { .. } | NotationError::Keep { .. }),
                    "{input}: {error}"
                ),
            }
        }
    }
}
