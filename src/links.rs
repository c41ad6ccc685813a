//! Action links: `<base_url>/a/<token>`, carried by every message so that
//! its recipient can acknowledge from the message itself.
//!
//! A token names the alert, the person and the message (its time), says
//! when it expires, and is signed with the station's link secret (kept in
//! the store): nothing is kept per link, so any station holding the same
//! secret honours it, and a new secret voids every link made before.
//! Layout, then URL-safe base64 without padding:
//!
//! | bytes | what |
//! |---|---|
//! | 1 | version (1) |
//! | 4 | expires at (Unix seconds, u32 BE) |
//! | 4 | the message's time (u32 BE) |
//! | 1 + n | the person's name, its length first |
//! | rest − 12 | the alert key ([`AlertKey::to_bytes`]) |
//! | 12 | keyed BLAKE2b of all the above |

use base64ct::{Base64UrlUnpadded, Encoding as _};
use blake2::digest::consts::U12;
use blake2::digest::Mac as _;

use crate::alert::{AlertKey, UnixSecs};

const VERSION: u8 = 1;
const TAG: usize = 12;
/// The length of a secret: 256 bits.
pub const SECRET_BYTES: usize = 32;
/// A token longer than this is refused before it is decoded (an alert key
/// is at most 512 + 1,024 characters, of up to 4 bytes each).
pub const MAX_TOKEN_CHARS: usize = 8_800;

type Signer = blake2::Blake2bMac<U12>;

/// The station's link secret.
#[derive(Clone)]
pub struct Secret([u8; SECRET_BYTES]);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(…)")
    }
}

impl PartialEq for Secret {
    fn eq(&self, other: &Secret) -> bool {
        self.0 == other.0
    }
}

impl Secret {
    /// A new random secret.
    pub fn random() -> Secret {
        Secret(rand::random())
    }

    /// A secret as stored; None when it is not [`SECRET_BYTES`] long.
    pub fn from_bytes(bytes: &[u8]) -> Option<Secret> {
        bytes.try_into().ok().map(Secret)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    fn signer(&self) -> Signer {
        <Signer as blake2::digest::KeyInit>::new_from_slice(&self.0)
            .expect("BLAKE2b takes a 32-byte key")
    }
}

/// The secret in force, shared by what signs links (delivery) and what
/// checks them (HTTP): `[cluster]` replaces it with the one both stations
/// share, a rotation with a new one.
#[derive(Clone, Debug)]
pub struct SharedSecret(std::sync::Arc<parking_lot::RwLock<Secret>>);

impl SharedSecret {
    pub fn new(secret: Secret) -> SharedSecret {
        SharedSecret(std::sync::Arc::new(parking_lot::RwLock::new(secret)))
    }

    pub fn get(&self) -> Secret {
        self.0.read().clone()
    }

    pub fn set(&self, secret: Secret) {
        *self.0.write() = secret;
    }

    /// The same cell (not merely the same secret now).
    pub fn same(&self, other: &SharedSecret) -> bool {
        std::sync::Arc::ptr_eq(&self.0, &other.0)
    }
}

/// What a token says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    pub alert: AlertKey,
    pub person: String,
    /// The message's time.
    pub message_at: UnixSecs,
    pub expires_at: UnixSecs,
}

/// Why a token was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refused {
    /// Not a token of this station's secret: forged, altered or cut short
    /// (or made before the secret was changed).
    Unknown,
    /// A true token past its time, for this alert.
    Expired(AlertKey),
}

/// Unix seconds as a token holds them (u32, until 2106).
fn secs(t: UnixSecs) -> u32 {
    u32::try_from(t).unwrap_or(u32::MAX)
}

impl Link {
    /// The token for this link, signed with `secret`.
    pub fn token(&self, secret: &Secret) -> String {
        let person = self.person.as_bytes();
        let person = &person[..person.len().min(u8::MAX as usize)];
        let mut bytes = Vec::with_capacity(10 + person.len() + 2 + TAG + 64);
        bytes.push(VERSION);
        bytes.extend_from_slice(&secs(self.expires_at).to_be_bytes());
        bytes.extend_from_slice(&secs(self.message_at).to_be_bytes());
        bytes.push(person.len() as u8);
        bytes.extend_from_slice(person);
        self.alert.encode_into(&mut bytes);
        let mut signer = secret.signer();
        signer.update(&bytes);
        bytes.extend_from_slice(&signer.finalize().into_bytes());
        Base64UrlUnpadded::encode_string(&bytes)
    }

    /// The link a token names, if `secret` signed it and it has not
    /// expired at `now`. Costs the token's length.
    pub fn check(token: &str, secret: &Secret, now: UnixSecs) -> Result<Link, Refused> {
        if token.len() > MAX_TOKEN_CHARS {
            return Err(Refused::Unknown);
        }
        let bytes = Base64UrlUnpadded::decode_vec(token).map_err(|_| Refused::Unknown)?;
        let split = bytes.len().checked_sub(TAG).ok_or(Refused::Unknown)?;
        let (body, tag) = bytes.split_at(split);
        let mut signer = secret.signer();
        signer.update(body);
        signer.verify_slice(tag).map_err(|_| Refused::Unknown)?;
        // Signed by us: the layout is ours, but read it with care anyway.
        let (&version, rest) = body.split_first().ok_or(Refused::Unknown)?;
        if version != VERSION || rest.len() < 9 {
            return Err(Refused::Unknown);
        }
        let number = |b: &[u8]| u64::from(u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
        let (expires_at, message_at) = (number(&rest[0..4]), number(&rest[4..8]));
        let person_len = rest[8] as usize;
        let person = rest.get(9..9 + person_len).ok_or(Refused::Unknown)?;
        let alert = AlertKey::from_bytes(&rest[9 + person_len..]);
        if now >= expires_at {
            return Err(Refused::Expired(alert));
        }
        Ok(Link {
            alert,
            person: String::from_utf8_lossy(person).into_owned(),
            message_at,
            expires_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn link() -> Link {
        Link {
            alert: AlertKey::new("web1.example.com", "disk"),
            person: "alice".into(),
            message_at: 1_700_000_000,
            expires_at: 1_700_086_400,
        }
    }

    #[test]
    fn a_token_says_what_it_was_made_with_and_is_short() {
        let secret = Secret::random();
        let token = link().token(&secret);
        assert_eq!(Link::check(&token, &secret, 1_700_000_001), Ok(link()));
        // web1.example.com/disk for alice: short enough for a text message.
        assert!(token.len() <= 72, "{} chars: {token}", token.len());
    }

    #[test]
    fn an_altered_cut_or_foreign_token_is_unknown_and_an_old_one_expired() {
        let secret = Secret::random();
        let token = link().token(&secret);
        let at = 1_700_000_001;
        // Every single character changed, one at a time.
        for i in 0..token.len() {
            let mut altered = token.clone().into_bytes();
            altered[i] = if altered[i] == b'A' { b'B' } else { b'A' };
            let altered = String::from_utf8(altered).unwrap();
            assert_eq!(
                Link::check(&altered, &secret, at),
                Err(Refused::Unknown),
                "{i}"
            );
        }
        for cut in [0, 1, 10, token.len() - 1] {
            assert_eq!(
                Link::check(&token[..cut], &secret, at),
                Err(Refused::Unknown)
            );
        }
        assert_eq!(
            Link::check(&token, &Secret::random(), at),
            Err(Refused::Unknown),
            "a new secret voids the links"
        );
        assert_eq!(
            Link::check(&"A".repeat(MAX_TOKEN_CHARS + 1), &secret, at),
            Err(Refused::Unknown)
        );
        assert_eq!(
            Link::check(&token, &secret, 1_700_086_400),
            Err(Refused::Expired(link().alert))
        );
    }

    #[test]
    fn a_person_with_any_name_and_an_alert_with_any_key_come_back_whole() {
        let secret = Secret::random();
        let odd = Link {
            alert: AlertKey::new("a/b c", "é/%2F\u{0}"),
            person: "Zoë O'Brien".into(),
            ..link()
        };
        assert_eq!(Link::check(&odd.token(&secret), &secret, 0), Ok(odd));
    }
}
