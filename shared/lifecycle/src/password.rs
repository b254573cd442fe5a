//! Initial passwords: Entra ID's complexity rules, checked before any write, and generation.
//!
//! Entra ID accepts 8 to 256 characters from A-Z, a-z, 0-9, the symbols
//! `@ # $ % ^ & * - _ ! + = [ ] { } | \ : ' , . ? / ` ~ " ( ) ; < >` and the blank space, with at
//! least three of the four classes (lowercase, uppercase, digits, symbols)
//! [learn: entra/identity/authentication/concept-sspr-policy]. Nothing here ever prints the
//! password: errors name the rule that failed, not the value.

use secrecy::{ExposeSecret, SecretString};
use thiserror::Error;

/// Fewest characters Entra ID accepts.
pub const MIN_LENGTH: usize = 8;
/// Most characters Entra ID accepts.
pub const MAX_LENGTH: usize = 256;
/// Length of a generated password.
pub const GENERATED_LENGTH: usize = 16;

const SYMBOLS: &str = "@#$%^&*-_!+=[]{}|\\:',.?/`~\"();<> ";
/// Symbols a generated password draws from: no blank, quote or backslash, which people misread
/// or mistype when they copy a temporary password.
const GENERATED_SYMBOLS: &str = "@#$%^&*-_!+=?";

/// Why a password is refused; never contains the password.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum PasswordError {
    #[error("the password has {length} characters; Entra ID needs {MIN_LENGTH} to {MAX_LENGTH}")]
    Length { length: usize },
    #[error(
        "the password contains a character Entra ID does not accept (position {position}); use \
         A-Z, a-z, 0-9, blank and the symbols @ # $ % ^ & * - _ ! + = [ ] {{ }} | \\ : ' , . ? / ` ~ \" ( ) ; < >"
    )]
    Character { position: usize },
    #[error(
        "the password uses {classes} of the 4 character classes (lowercase, uppercase, digits, \
         symbols); Entra ID needs at least 3"
    )]
    Classes { classes: usize },
}

/// Checks a password against Entra ID's complexity rules.
pub fn check(password: &SecretString) -> Result<(), PasswordError> {
    let value = password.expose_secret();
    let length = value.chars().count();
    if !(MIN_LENGTH..=MAX_LENGTH).contains(&length) {
        return Err(PasswordError::Length { length });
    }
    let (mut lower, mut upper, mut digit, mut symbol) = (false, false, false, false);
    for (index, c) in value.chars().enumerate() {
        match c {
            'a'..='z' => lower = true,
            'A'..='Z' => upper = true,
            '0'..='9' => digit = true,
            c if SYMBOLS.contains(c) => symbol = true,
            _ => {
                return Err(PasswordError::Character {
                    position: index + 1,
                });
            }
        }
    }
    let classes = [lower, upper, digit, symbol]
        .into_iter()
        .filter(|class| *class)
        .count();
    if classes < 3 {
        return Err(PasswordError::Classes { classes });
    }
    Ok(())
}

/// A fresh 16-character password with all four classes, drawn from the operating system's
/// random source (through UUID v4, 122 random bits each).
pub fn generate() -> SecretString {
    let alphabet: Vec<char> = ('a'..='z')
        .chain('A'..='Z')
        .chain('0'..='9')
        .chain(GENERATED_SYMBOLS.chars())
        .collect();
    // Rejection sampling keeps every character equally likely: bytes at or above the largest
    // multiple of the alphabet size are dropped.
    let limit = 256 - (256 % alphabet.len());
    loop {
        let mut password = String::with_capacity(GENERATED_LENGTH);
        while password.len() < GENERATED_LENGTH {
            for byte in uuid::Uuid::new_v4().into_bytes() {
                if usize::from(byte) < limit && password.len() < GENERATED_LENGTH {
                    password.push(alphabet[usize::from(byte) % alphabet.len()]);
                }
            }
        }
        let has = |test: fn(&char) -> bool| password.chars().any(|c| test(&c));
        if has(char::is_ascii_lowercase)
            && has(char::is_ascii_uppercase)
            && has(char::is_ascii_digit)
            && has(|c| GENERATED_SYMBOLS.contains(*c))
        {
            return SecretString::from(password);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(value: &str) -> SecretString {
        SecretString::from(value.to_owned())
    }

    #[test]
    fn given_passwords_breaking_each_rule_when_checked_then_the_error_names_the_rule_not_the_value()
    {
        let short = check(&secret("Ab1!xyz")).unwrap_err();
        assert_eq!(short, PasswordError::Length { length: 7 });
        let long = check(&secret(&"Ab1!".repeat(65))).unwrap_err();
        assert_eq!(long, PasswordError::Length { length: 260 });
        let two_classes = check(&secret("onlylower123")).unwrap_err();
        assert_eq!(two_classes, PasswordError::Classes { classes: 2 });
        let unicode = check(&secret("Pässword123!")).unwrap_err();
        assert_eq!(unicode, PasswordError::Character { position: 2 });
        for error in [short, long, two_classes, unicode] {
            assert!(!error.to_string().contains("Ab1!"), "{error}");
            assert!(!error.to_string().contains("onlylower"), "{error}");
        }
    }

    #[test]
    fn given_three_of_four_classes_when_checked_then_it_is_accepted() {
        assert_eq!(check(&secret("Summer2025")), Ok(()));
        assert_eq!(check(&secret("summer 2025!")), Ok(()));
        assert_eq!(check(&secret("SUMMER-time")), Ok(()));
    }

    #[test]
    fn given_generated_passwords_when_checked_then_each_is_valid_and_different() {
        let first = generate();
        let second = generate();
        assert_eq!(first.expose_secret().chars().count(), GENERATED_LENGTH);
        assert_eq!(check(&first), Ok(()));
        assert_eq!(check(&second), Ok(()));
        assert_ne!(first.expose_secret(), second.expose_secret());
    }
}
