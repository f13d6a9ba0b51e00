//! Agent API keys and session tokens: generated from 32 random bytes, stored
//! only as SHA-256 hashes.
//!
//! A fast hash is right here: both secrets carry 256 bits of entropy, so they
//! cannot be guessed, and each request looks its secret up by hash.

use std::fmt;

use availsync_types::API_KEY_PREFIX;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// Characters of a key kept to recognise it (`avs_live_` plus four).
const KEY_PREFIX_LEN: usize = API_KEY_PREFIX.len() + 4;

/// A secret shown once to its owner. `Debug` never prints it.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    /// The secret itself, to hand to its owner once.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The hash stored in place of the secret.
    pub fn hash(&self) -> Vec<u8> {
        hash_secret(&self.0)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A new agent API key: `avs_live_` plus 32 random bytes, base64url.
pub fn new_api_key() -> Secret {
    Secret(format!("{API_KEY_PREFIX}{}", random_token()))
}

/// A new session token: 32 random bytes, base64url.
pub fn new_session_token() -> Secret {
    Secret(random_token())
}

/// The part of a key kept to recognise it.
pub fn key_prefix(key: &Secret) -> String {
    key.0.chars().take(KEY_PREFIX_LEN).collect()
}

/// SHA-256 of a presented secret, to look it up.
pub fn hash_secret(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_have_the_prefix_and_enough_entropy() {
        let key = new_api_key();
        assert!(key.expose().starts_with("avs_live_"));
        // 32 bytes in base64url without padding is 43 characters.
        assert_eq!(key.expose().len(), API_KEY_PREFIX.len() + 43);
        assert_eq!(key_prefix(&key).len(), 13);
        assert_ne!(new_api_key().expose(), key.expose());
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let key = new_api_key();
        assert!(!format!("{key:?}").contains(key.expose()));
    }

    #[test]
    fn hash_matches_presented_secret() {
        let key = new_api_key();
        assert_eq!(key.hash(), hash_secret(key.expose()));
        assert_ne!(key.hash(), hash_secret("avs_live_other"));
    }
}
