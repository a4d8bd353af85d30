//! Argon2id password hashes (PHC strings, the crate's default parameters: 19 MiB, 2 passes,
//! 1 lane — OWASP's recommendation). Hashing takes tens of milliseconds of one core, so both
//! functions run on the blocking pool.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

/// Hashes `password` with a fresh salt.
pub async fn hash(password: String) -> String {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .expect("Argon2 with default parameters hashes any input")
            .to_string()
    })
    .await
    .expect("the hashing task does not panic")
}

/// Whether `password` matches `phc`. With no hash (an unknown account, an SSO-only one) a
/// fixed hash is checked instead, so the answer takes as long either way and does not tell
/// which accounts exist.
pub async fn verify(password: String, phc: Option<String>) -> bool {
    tokio::task::spawn_blocking(move || {
        let known = phc.is_some();
        let phc = phc.unwrap_or_else(|| DUMMY.to_string());
        let Ok(parsed) = PasswordHash::new(&phc) else {
            return false;
        };
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
            && known
    })
    .await
    .unwrap_or(false)
}

/// The hash of a random password nobody knows (default parameters), checked for unknown accounts.
const DUMMY: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$1M5XfG6YpmMSxdyDMbB3Xn0lIVZ2WT8m2mPyW3PqJlQ";

/// Why a new password is refused (422 `weak_password`).
pub fn check_new(password: &str, email: &str, min: usize) -> Result<(), String> {
    let n = password.chars().count();
    if n < min {
        return Err(format!("the password must be at least {min} characters"));
    }
    if n > 256 {
        return Err("the password must be at most 256 characters".into());
    }
    let lower = password.to_lowercase();
    if lower == email || email.split('@').next().is_some_and(|local| lower == local) {
        return Err("the password must not be the email address".into());
    }
    if password
        .chars()
        .all(|c| c == password.chars().next().unwrap_or(' '))
    {
        return Err("the password must not repeat one character".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_unknown_accounts_never_do() {
        let h = hash("correct horse battery".into()).await;
        assert!(h.starts_with("$argon2id$"));
        assert!(verify("correct horse battery".into(), Some(h.clone())).await);
        assert!(!verify("correct horse batterY".into(), Some(h)).await);
        assert!(!verify("anything".into(), None).await);
        assert!(!verify("anything".into(), Some("not a hash".into())).await);
        assert!(
            PasswordHash::new(DUMMY).is_ok(),
            "the dummy hash parses, so unknown accounts cost a real check"
        );
    }

    #[test]
    fn new_passwords_are_checked() {
        assert!(check_new("long enough pass", "a@b.co", 12).is_ok());
        assert!(check_new("short", "a@b.co", 12)
            .unwrap_err()
            .contains("at least 12"));
        assert!(check_new("asha@bank.example", "asha@bank.example", 8).is_err());
        assert!(check_new("aaaaaaaaaaaaaa", "a@b.co", 12).is_err());
    }
}
