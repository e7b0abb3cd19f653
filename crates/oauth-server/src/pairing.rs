//! The pairing code: what the owner types on the consent page to prove they are at the
//! program's terminal. 40 random bits in Crockford base32 (`XXXX-XXXX`), void after
//! [`MAX_WRONG_ATTEMPTS`] wrong tries or one successful approval; a new one is published on
//! a watch channel for the program to print.

use std::{
    fmt,
    sync::{Mutex, PoisonError},
};

use tokio::sync::watch;

/// Wrong codes after which the code is void and a new one is made.
pub const MAX_WRONG_ATTEMPTS: u32 = 5;

/// Crockford's base32 alphabet: no I, L, O or U, so what is read aloud is typed right.
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// A pairing code, shown as `XXXX-XXXX`. Its `Display` is the code itself: print it only
/// where the owner asked for it (their terminal), never to a log.
#[derive(Clone, PartialEq, Eq)]
pub struct PairingCode(String);

impl PairingCode {
    fn random() -> Self {
        let bits = rand::random::<u64>();
        let symbols: String = (0..8)
            .map(|i| char::from(ALPHABET[((bits >> (5 * i)) & 31) as usize]))
            .collect();
        Self(format!("{}-{}", &symbols[..4], &symbols[4..]))
    }

    /// The code as the owner may have typed it: case, spaces and dashes do not matter, and
    /// Crockford's look-alikes (`O`, `I`, `L`) read as the digits they look like.
    fn normalize(typed: &str) -> String {
        typed
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .map(|c| match c.to_ascii_uppercase() {
                'O' => '0',
                'I' | 'L' => '1',
                other => other,
            })
            .collect()
    }

    fn matches(&self, typed: &str) -> bool {
        let expected = Self::normalize(&self.0);
        let typed = Self::normalize(typed);
        crate::constant_time_eq(&expected, &typed)
    }
}

impl fmt::Display for PairingCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for PairingCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PairingCode(..)")
    }
}

/// What a typed code did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Attempt {
    /// Right: the code is used up and a new one published.
    Approved,
    /// Wrong; this many tries are left on the current code.
    Wrong { left: u32 },
    /// Wrong, and that was the last try: the code is void and a new one published.
    Voided,
}

/// The current code and its wrong attempts.
pub(crate) struct Pairing {
    state: Mutex<(PairingCode, u32)>,
    published: watch::Sender<PairingCode>,
}

impl Pairing {
    pub(crate) fn new() -> Self {
        let code = PairingCode::random();
        let (published, _) = watch::channel(code.clone());
        Self {
            state: Mutex::new((code, 0)),
            published,
        }
    }

    /// The codes as they are made: the current one first.
    pub(crate) fn subscribe(&self) -> watch::Receiver<PairingCode> {
        self.published.subscribe()
    }

    /// Checks a typed code, and replaces the code when it was used or voided.
    pub(crate) fn attempt(&self, typed: &str) -> Attempt {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let outcome = if state.0.matches(typed) {
            Attempt::Approved
        } else {
            state.1 += 1;
            if state.1 >= MAX_WRONG_ATTEMPTS {
                Attempt::Voided
            } else {
                Attempt::Wrong {
                    left: MAX_WRONG_ATTEMPTS - state.1,
                }
            }
        };
        if matches!(outcome, Attempt::Approved | Attempt::Voided) {
            let fresh = PairingCode::random();
            *state = (fresh.clone(), 0);
            self.published.send_replace(fresh);
        }
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_look_like_xxxx_dash_xxxx_and_differ() {
        let a = PairingCode::random();
        let b = PairingCode::random();
        assert_ne!(a, b);
        let text = a.to_string();
        assert_eq!(text.len(), 9);
        assert_eq!(&text[4..5], "-");
        assert!(
            text.bytes()
                .filter(|b| *b != b'-')
                .all(|b| ALPHABET.contains(&b))
        );
        assert_eq!(
            format!("{a:?}"),
            "PairingCode(..)",
            "Debug never shows the code"
        );
    }

    #[test]
    fn typing_is_forgiving_about_case_dashes_and_look_alikes() {
        let code = PairingCode("01AB-CDEF".to_owned());
        for typed in [
            "01AB-CDEF",
            "01abcdef",
            " 01ab cdef ",
            "OIAB-CDEF",
            "olab-cdef",
        ] {
            assert!(code.matches(typed), "{typed}");
        }
        for typed in ["01AB-CDEE", "01AB-CDE", "", "01AB-CDEFF"] {
            assert!(!code.matches(typed), "{typed}");
        }
    }

    #[test]
    fn five_wrong_codes_void_the_code_and_a_right_one_is_used_up() {
        let pairing = Pairing::new();
        let mut codes = pairing.subscribe();
        let first = codes.borrow_and_update().clone();
        for left in (1..MAX_WRONG_ATTEMPTS).rev() {
            assert_eq!(pairing.attempt("0000-0000"), Attempt::Wrong { left });
        }
        assert!(!codes.has_changed().unwrap());
        assert_eq!(pairing.attempt("0000-0000"), Attempt::Voided);
        assert!(codes.has_changed().unwrap());
        let second = codes.borrow_and_update().clone();
        assert_ne!(first, second);
        assert_ne!(
            pairing.attempt(&first.to_string()),
            Attempt::Approved,
            "the void code no longer works"
        );
        assert_eq!(pairing.attempt(&second.to_string()), Attempt::Approved);
        assert_ne!(
            pairing.attempt(&second.to_string()),
            Attempt::Approved,
            "used up"
        );
    }
}
