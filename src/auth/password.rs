//! Password hashing (Argon2id with a random salt, PHC string format).

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

/// Hashes a password for storage.
pub fn hash(password: &str) -> Result<String, String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// Checks a password against a stored hash. A malformed stored hash never matches.
pub fn verify(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// Fewest characters a chosen administrator password may have.
pub const MIN_LENGTH: usize = 12;
/// Fewest different characters in it (no `aaaaaaaaaaaa`, no `121212121212`).
pub const MIN_DISTINCT: usize = 6;

/// Whether a password an operator chose is strong enough to guard the administrator
/// account (the sign-in budget makes guessing slow, not impossible).
pub fn check_strength(password: &str) -> Result<(), String> {
    let length = password.chars().count();
    if length < MIN_LENGTH {
        return Err(format!(
            "it has {length} characters; use at least {MIN_LENGTH}"
        ));
    }
    let distinct: std::collections::BTreeSet<char> = password.chars().collect();
    if distinct.len() < MIN_DISTINCT {
        return Err(format!(
            "it uses only {} different characters; use at least {MIN_DISTINCT}",
            distinct.len()
        ));
    }
    const COMMON: [&str; 6] = ["password", "123456", "qwerty", "admin", "viva", "abc123"];
    let lower = password.to_lowercase();
    if let Some(word) = COMMON
        .iter()
        .find(|w| lower.contains(*w) && lower.len() < w.len() + 6)
    {
        return Err(format!("it is mostly the common word \"{word}\""));
    }
    Ok(())
}

/// A random password for a first-start administrator: 20 characters from an alphabet
/// without look-alikes (0/O, 1/l/I), about 113 bits.
pub fn generate() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rng();
    (0..20)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// A valid hash of a throwaway password, verified against when a user name does not
/// exist so that a refused sign-in costs the same time either way.
pub static DUMMY_HASH: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| hash("viva-dummy-password").unwrap_or_default());

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_then_verify() {
        let h = hash("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify("correct horse", &h));
        assert!(!verify("wrong horse", &h));
        assert!(!verify("correct horse", "not a hash"));
    }

    #[test]
    fn weak_administrator_passwords_are_refused_with_the_reason() {
        assert!(
            check_strength("short1!")
                .unwrap_err()
                .contains("at least 12")
        );
        assert!(
            check_strength("aaaaaaaaaaaaaaaa")
                .unwrap_err()
                .contains("different")
        );
        assert!(
            check_strength("Password1234")
                .unwrap_err()
                .contains("password")
        );
        assert!(check_strength("test-admin-password").is_ok());
        assert!(check_strength(&generate()).is_ok(), "generated ones pass");
    }

    #[test]
    fn generated_passwords_differ() {
        let a = generate();
        assert_eq!(a.chars().count(), 20);
        assert_ne!(a, generate());
    }
}
