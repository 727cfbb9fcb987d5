//! Bearer access tokens shared by command-service (which issues them) and
//! query-service (which checks them): `belle1.<claims>.<mac>`, where claims are
//! base64url JSON and mac is HMAC-SHA256 over `belle1.<claims>` with the token secret.
//!
//! The algorithm is pinned by the prefix (there is no `alg` field to downgrade);
//! audience and expiry are always checked. Claims hold ids and a role, never personal data.

use crate::envelope::Role;
use crate::ids::{AccountId, CustomerId, TenantId};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use zeroize::Zeroizing;

const PREFIX: &str = "belle1";
/// The audience of tokens for Belle's HTTP APIs.
pub const API_AUDIENCE: &str = "belle-api";

/// What a token says about its bearer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub sub: AccountId,
    pub tenant: TenantId,
    pub role: Role,
    pub aud: String,
    /// Issued at, seconds since the epoch.
    pub iat: i64,
    /// Expiry, seconds since the epoch.
    pub exp: i64,
    /// Token id.
    pub jti: uuid::Uuid,
    /// For a customer's own account: her customer record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer: Option<CustomerId>,
}

/// The HMAC secret tokens are signed with. Shared, not copied, by clones (every
/// request's state holds one): one allocation, wiped once when the last clone drops.
#[derive(Clone)]
pub struct TokenSecret(std::sync::Arc<Zeroizing<Vec<u8>>>);

impl std::fmt::Debug for TokenSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenSecret(..)")
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("malformed token")]
    Malformed,
    #[error("token signature is not valid")]
    BadSignature,
    #[error("token has expired")]
    Expired,
    #[error("token is for another audience")]
    WrongAudience,
    #[error("token secret must be at least 32 bytes")]
    WeakSecret,
}

impl TokenSecret {
    /// A secret of at least 32 bytes, given as base64 (standard alphabet).
    pub fn parse(b64: &str) -> Result<TokenSecret, TokenError> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .map_err(|_| TokenError::WeakSecret)?;
        Self::from_bytes(bytes)
    }

    pub fn from_bytes(bytes: Vec<u8>) -> Result<TokenSecret, TokenError> {
        if bytes.len() < 32 {
            return Err(TokenError::WeakSecret);
        }
        Ok(TokenSecret(std::sync::Arc::new(Zeroizing::new(bytes))))
    }

    pub fn generate() -> TokenSecret {
        use rand::RngCore;
        let mut bytes = vec![0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        TokenSecret(std::sync::Arc::new(Zeroizing::new(bytes)))
    }

    /// A keyed hash (base64url HMAC-SHA256 over `purpose`, a zero byte and `data`) for values
    /// the services must recognise without storing them (login throttling keys). Token
    /// MACs cover `belle1.…`, so no purpose can produce one.
    pub fn keyed_hash(&self, purpose: &str, data: &[u8]) -> String {
        let mut mac = self.mac();
        mac.update(purpose.as_bytes());
        mac.update(&[0]);
        mac.update(data);
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }

    fn mac(&self) -> Hmac<Sha256> {
        // HMAC accepts keys of any length, so this cannot fail.
        match Hmac::<Sha256>::new_from_slice(self.0.as_slice()) {
            Ok(m) => m,
            Err(_) => unreachable!("HMAC-SHA256 takes keys of any length"),
        }
    }

    /// Signs the claims into a token string.
    pub fn issue(&self, claims: &Claims) -> String {
        let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims).unwrap_or_default());
        let signed = format!("{PREFIX}.{body}");
        let mut mac = self.mac();
        mac.update(signed.as_bytes());
        let sig = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        format!("{signed}.{sig}")
    }

    /// Checks an `Authorization` header value for a bearer token of Belle's API. The
    /// error is the message for the 401 response.
    pub fn verify_bearer(&self, header: Option<&[u8]>, now: i64) -> Result<Claims, &'static str> {
        let header = header.ok_or("a bearer token is required")?;
        let token = std::str::from_utf8(header)
            .ok()
            .and_then(|h| h.strip_prefix("Bearer "))
            .ok_or("use Authorization: Bearer <token>")?;
        self.verify(token.trim(), API_AUDIENCE, now)
            .map_err(|e| match e {
                TokenError::Expired => "the token has expired",
                _ => "the token is not valid",
            })
    }

    /// Checks signature (constant time), audience and expiry (`now` in epoch seconds).
    pub fn verify(&self, token: &str, audience: &str, now: i64) -> Result<Claims, TokenError> {
        let mut parts = token.split('.');
        let (Some(prefix), Some(body), Some(sig), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed);
        };
        if prefix != PREFIX {
            return Err(TokenError::Malformed);
        }
        let sig = URL_SAFE_NO_PAD
            .decode(sig)
            .map_err(|_| TokenError::Malformed)?;
        let mut mac = self.mac();
        mac.update(prefix.as_bytes());
        mac.update(b".");
        mac.update(body.as_bytes());
        mac.verify_slice(&sig)
            .map_err(|_| TokenError::BadSignature)?;
        let json = URL_SAFE_NO_PAD
            .decode(body)
            .map_err(|_| TokenError::Malformed)?;
        let claims: Claims = serde_json::from_slice(&json).map_err(|_| TokenError::Malformed)?;
        if claims.aud != audience {
            return Err(TokenError::WrongAudience);
        }
        if claims.exp <= now {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: i64) -> Claims {
        Claims {
            sub: AccountId::new(),
            tenant: TenantId::new(),
            role: Role::FrontDesk,
            aud: API_AUDIENCE.into(),
            iat: 0,
            exp,
            jti: uuid::Uuid::new_v4(),
            customer: None,
        }
    }

    #[test]
    fn a_token_verifies_with_its_secret_only() {
        let s = TokenSecret::generate();
        let c = claims(100);
        let t = s.issue(&c);
        assert_eq!(s.verify(&t, API_AUDIENCE, 50), Ok(c));
        assert_eq!(
            TokenSecret::generate().verify(&t, API_AUDIENCE, 50),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn expired_wrong_audience_and_tampered_tokens_are_refused() {
        let s = TokenSecret::generate();
        let t = s.issue(&claims(100));
        assert_eq!(s.verify(&t, API_AUDIENCE, 100), Err(TokenError::Expired));
        assert_eq!(s.verify(&t, "other", 50), Err(TokenError::WrongAudience));
        let mut forged = claims(10_000);
        forged.role = Role::Owner;
        let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).unwrap_or_default());
        let sig = t.rsplit('.').next().unwrap_or_default();
        let tampered = format!("belle1.{body}.{sig}");
        assert_eq!(
            s.verify(&tampered, API_AUDIENCE, 50),
            Err(TokenError::BadSignature)
        );
        assert_eq!(
            s.verify("belle1.x", API_AUDIENCE, 50),
            Err(TokenError::Malformed)
        );
        assert_eq!(
            s.verify(&t.replacen("belle1", "none", 1), API_AUDIENCE, 50),
            Err(TokenError::Malformed)
        );
    }
}
