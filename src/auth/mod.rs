//! Authentication and authorisation: signed tokens (join grants and administrator
//! sign-ins), password hashing, and the one place where grants are checked.

pub mod password;
pub mod token;

pub use token::{AdminClaims, JoinGrant, Signer, TokenError};
