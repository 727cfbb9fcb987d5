//! Sealing of personal data (DESIGN §6): pure cryptography, no I/O.
//!
//! Guarantees:
//! - A [`SealedValue`] is XChaCha20-Poly1305 ciphertext under the subject's data key
//!   ([`Dek`]) with a random 24-byte nonce from the operating system. Its associated data
//!   binds it to tenant, subject, field name and key version, so a sealed value copied to
//!   another tenant, subject or field — or with a flipped bit — fails to open
//!   ([`SealError::Open`]) instead of yielding someone else's data.
//! - Data keys and tenant index keys are only ever stored wrapped by the key-encryption
//!   key ([`Kek`]); a wrapped key is bound to its tenant (and subject and version) and
//!   to what it is (`"dek"` or `"index"`), so wrapped keys cannot be swapped either.
//! - [`blind_index`] is a keyed HMAC-SHA256: equal normalised values give equal indexes
//!   within one tenant and purpose; different purposes never share an index.
//! - Key bytes live in [`Zeroizing`] buffers (wiped on drop). No `Debug` output and no
//!   error message contains key bytes or plaintext.
//!
//! Erasure (crypto-shredding) is the caller's business: when a subject's key is gone,
//! report [`Opened::Erased`] rather than an error, so replays never break.

use std::fmt;

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine as _;
use chacha20poly1305::aead::{Aead, AeadInPlace, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use rand::rngs::OsRng;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use uuid::Uuid;
use zeroize::{Zeroize, Zeroizing};

use crate::ids::TenantId;

/// The only sealed-value format so far.
pub const SEALED_VALUE_VERSION: u8 = 1;

const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
const KEY_LEN: usize = 32;
/// Length of a wrapped key: nonce, 32 key bytes, tag.
pub const WRAPPED_KEY_LEN: usize = NONCE_LEN + KEY_LEN + TAG_LEN;
const DEFAULT_KEK_ID: &str = "k1";
const MAX_KEK_ID_LEN: usize = 32;

/// Why sealing-related input was rejected. Never carries key bytes or plaintext.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("sealed value failed to open (wrong key, subject or field, or tampered)")]
    Open,
    #[error("unsupported sealed value version {0}")]
    Version(u8),
    #[error("malformed sealed value")]
    Malformed,
    #[error("invalid key-encryption key: {0}")]
    BadKek(&'static str),
}

/// The key-encryption key: comes from configuration, never from the database. It wraps
/// every data key and index key. `id` (e.g. `"k1"`) is stored next to each wrapped key
/// so that a rotation can tell which KEK wrapped what. Clones are wiped on drop too.
#[derive(Clone)]
pub struct Kek {
    id: String,
    key: Zeroizing<[u8; KEY_LEN]>,
}

impl Kek {
    /// A KEK from raw bytes. The id is not validated here (see [`Kek::parse`]).
    pub fn new(id: impl Into<String>, key: [u8; KEY_LEN]) -> Kek {
        let mut key = key;
        let kek = Kek {
            id: id.into(),
            key: Zeroizing::new(key),
        };
        key.zeroize();
        kek
    }

    /// Parses `"[<id>:]<key>"` where `<key>` is 32 bytes as base64 (standard or URL-safe,
    /// padded or not) or as 64 hex digits, and `<id>` is 1–32 characters of
    /// `[A-Za-z0-9._-]` (default `"k1"`). Surrounding whitespace (a trailing newline of
    /// a key file) is ignored. An all-zero key is refused as an obvious placeholder.
    pub fn parse(spec: &str) -> Result<Kek, SealError> {
        let spec = spec.trim();
        if spec.is_empty() {
            return Err(SealError::BadKek("empty"));
        }
        // Neither base64 nor hex uses ':', so the first one ends the id.
        let (id, encoded) = match spec.split_once(':') {
            Some((id, encoded)) => (id, encoded.trim()),
            None => (DEFAULT_KEK_ID, spec),
        };
        let id_ok = !id.is_empty()
            && id.len() <= MAX_KEK_ID_LEN
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if !id_ok {
            return Err(SealError::BadKek(
                "key id must be 1 to 32 characters of [A-Za-z0-9._-]",
            ));
        }
        let key = decode_hex_key(encoded)
            .or_else(|| decode_base64_key(encoded))
            .ok_or(SealError::BadKek(
                "expected 32 bytes as base64 or 64 hex digits",
            ))?;
        if key.iter().all(|b| *b == 0) {
            return Err(SealError::BadKek("all-zero key"));
        }
        Ok(Kek {
            id: id.to_owned(),
            key,
        })
    }

    /// A random KEK, for tests and for `run.sh` to create a local one.
    pub fn generate(id: &str) -> Kek {
        Kek {
            id: id.to_owned(),
            key: random_key(),
        }
    }

    /// The label stored beside each key it wraps.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// `"<id>:<base64>"`, accepted by [`Kek::parse`]. Contains the secret: write it only
    /// to a protected key file or environment.
    pub fn to_spec(&self) -> String {
        format!("{}:{}", self.id, STANDARD.encode(&self.key[..]))
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new((&*self.key).into())
    }
}

impl fmt::Debug for Kek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Kek")
            .field("id", &self.id)
            .field("key", &"<redacted>")
            .finish()
    }
}

/// A data subject's 256-bit data key. Wiped on drop; `Debug` is redacted.
#[derive(Clone)]
pub struct Dek(Zeroizing<[u8; KEY_LEN]>);

impl Dek {
    /// A fresh random data key from the operating system's generator.
    pub fn generate() -> Dek {
        Dek(random_key())
    }

    fn cipher(&self) -> XChaCha20Poly1305 {
        XChaCha20Poly1305::new((&*self.0).into())
    }
}

impl fmt::Debug for Dek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Dek(<redacted>)")
    }
}

/// A tenant's 256-bit blind-index key. Wiped on drop; `Debug` is redacted.
#[derive(Clone)]
pub struct IndexKey(Zeroizing<[u8; KEY_LEN]>);

impl IndexKey {
    /// A fresh random index key from the operating system's generator.
    pub fn generate() -> IndexKey {
        IndexKey(random_key())
    }
}

impl fmt::Debug for IndexKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("IndexKey(<redacted>)")
    }
}

/// What a sealed value is bound to. Moving a sealed value to another tenant, subject or
/// field fails to open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SealContext<'a> {
    pub tenant: TenantId,
    /// The data subject (customer, staff member) whose key seals the value.
    pub subject: Uuid,
    /// A stable field name, e.g. `"phone"`; renaming it makes old values unopenable.
    pub field: &'a str,
}

impl<'a> SealContext<'a> {
    pub fn new(tenant: TenantId, subject: impl Into<Uuid>, field: &'a str) -> Self {
        SealContext {
            tenant,
            subject: subject.into(),
            field,
        }
    }
}

/// A sealed personal field as stored inside event payloads:
/// `{"v":1,"kv":1,"n":"<base64 24-byte nonce>","c":"<base64 ciphertext+tag>"}`
/// (standard base64 with padding). `kv` is the subject's key version.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedValue {
    pub v: u8,
    pub kv: u32,
    pub n: String,
    pub c: String,
}

impl fmt::Debug for SealedValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SealedValue(v{},kv{})", self.v, self.kv)
    }
}

/// Outcome of opening a value whose key may have been destroyed (crypto-shredding):
/// replays must not break on erased subjects. `Debug` never shows the plaintext.
#[derive(Clone, PartialEq, Eq)]
pub enum Opened {
    Plain(String),
    /// The subject's key is gone: the value is erased for good.
    Erased,
}

impl Opened {
    pub fn is_erased(&self) -> bool {
        matches!(self, Opened::Erased)
    }

    /// The plaintext, or `None` when erased.
    pub fn into_plain(self) -> Option<String> {
        match self {
            Opened::Plain(s) => Some(s),
            Opened::Erased => None,
        }
    }
}

impl fmt::Debug for Opened {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Opened::Plain(_) => f.write_str("Plain(<redacted>)"),
            Opened::Erased => f.write_str("Erased"),
        }
    }
}

/// Seals `plaintext` for `ctx` under `dek` (version `key_version`) with a fresh random
/// nonce, so sealing the same value twice gives different ciphertexts.
///
/// # Panics
/// Only if the operating system's random generator fails, or if `plaintext` exceeds
/// XChaCha20-Poly1305's limit of 256 GiB.
pub fn seal(dek: &Dek, key_version: u32, ctx: &SealContext<'_>, plaintext: &str) -> SealedValue {
    let nonce = random_nonce();
    let aad = seal_aad(ctx, key_version);
    let ciphertext = encrypt(&dek.cipher(), &nonce, plaintext.as_bytes(), &aad);
    SealedValue {
        v: SEALED_VALUE_VERSION,
        kv: key_version,
        n: STANDARD.encode(nonce),
        c: STANDARD.encode(ciphertext),
    }
}

/// Opens a value sealed by [`seal`] for the same `ctx`, using `sealed.kv` as the key
/// version in the associated data. The caller picks `dek` by that version.
pub fn open(dek: &Dek, ctx: &SealContext<'_>, sealed: &SealedValue) -> Result<String, SealError> {
    if sealed.v != SEALED_VALUE_VERSION {
        return Err(SealError::Version(sealed.v));
    }
    let nonce = decode_nonce(&sealed.n)?;
    let mut buffer = Zeroizing::new(
        STANDARD
            .decode(&sealed.c)
            .map_err(|_| SealError::Malformed)?,
    );
    if buffer.len() < TAG_LEN {
        return Err(SealError::Malformed);
    }
    let aad = seal_aad(ctx, sealed.kv);
    dek.cipher()
        .decrypt_in_place(&nonce, &aad, &mut *buffer)
        .map_err(|_| SealError::Open)?;
    // Authentic ciphertext of a `&str` is UTF-8; anything else was not made by `seal`.
    String::from_utf8(std::mem::take(&mut *buffer)).map_err(|e| {
        e.into_bytes().zeroize();
        SealError::Malformed
    })
}

/// Wraps a subject's data key under the KEK: `nonce || ciphertext+tag`
/// ([`WRAPPED_KEY_LEN`] bytes), bound to tenant, subject and key version.
pub fn wrap_dek(
    kek: &Kek,
    tenant: TenantId,
    subject: Uuid,
    key_version: u32,
    dek: &Dek,
) -> Vec<u8> {
    wrap(kek, &dek_wrap_aad(tenant, subject, key_version), &dek.0)
}

/// Inverse of [`wrap_dek`]; fails with [`SealError::Open`] under another KEK, tenant,
/// subject or version.
pub fn unwrap_dek(
    kek: &Kek,
    tenant: TenantId,
    subject: Uuid,
    key_version: u32,
    wrapped: &[u8],
) -> Result<Dek, SealError> {
    unwrap(kek, &dek_wrap_aad(tenant, subject, key_version), wrapped).map(Dek)
}

/// Wraps a tenant's blind-index key under the KEK, bound to the tenant.
pub fn wrap_index_key(kek: &Kek, tenant: TenantId, key: &IndexKey) -> Vec<u8> {
    wrap(kek, &index_wrap_aad(tenant), &key.0)
}

/// Inverse of [`wrap_index_key`].
pub fn unwrap_index_key(
    kek: &Kek,
    tenant: TenantId,
    wrapped: &[u8],
) -> Result<IndexKey, SealError> {
    unwrap(kek, &index_wrap_aad(tenant), wrapped).map(IndexKey)
}

/// Blind index for searching sealed fields in read models:
/// `HMAC-SHA256(index key, purpose || 0x00 || normalised)`, lowercase hex (64 chars).
/// `purpose` names what is indexed (e.g. `"phone"`, `"phone-tail4"`); the caller
/// normalises the value first (e.g. E.164 digits).
pub fn blind_index(key: &IndexKey, purpose: &str, normalised: &str) -> String {
    let mut mac = hmac_sha256(&key.0);
    mac.update(purpose.as_bytes());
    mac.update(&[0]);
    mac.update(normalised.as_bytes());
    hex_lower(&mac.finalize().into_bytes())
}

/// HMAC-SHA256 keyed with a 32-byte key. HMAC zero-pads keys shorter than the hash's
/// 64-byte block, so padding here is the standard construction — and it makes the
/// constructor infallible.
fn hmac_sha256(key: &[u8; KEY_LEN]) -> Hmac<Sha256> {
    let mut block = Zeroizing::new([0u8; 64]);
    block[..KEY_LEN].copy_from_slice(key);
    <Hmac<Sha256> as KeyInit>::new((&*block).into())
}

fn wrap(kek: &Kek, aad: &[u8], key: &[u8; KEY_LEN]) -> Vec<u8> {
    let nonce = random_nonce();
    let ciphertext = encrypt(&kek.cipher(), &nonce, key, aad);
    let mut out = Vec::with_capacity(WRAPPED_KEY_LEN);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ciphertext);
    out
}

fn unwrap(kek: &Kek, aad: &[u8], wrapped: &[u8]) -> Result<Zeroizing<[u8; KEY_LEN]>, SealError> {
    if wrapped.len() != WRAPPED_KEY_LEN {
        return Err(SealError::Malformed);
    }
    let (nonce, ciphertext) = wrapped.split_at(NONCE_LEN);
    let nonce = XNonce::from_slice(nonce);
    let mut buffer = Zeroizing::new(ciphertext.to_vec());
    kek.cipher()
        .decrypt_in_place(nonce, aad, &mut *buffer)
        .map_err(|_| SealError::Open)?;
    if buffer.len() != KEY_LEN {
        return Err(SealError::Malformed);
    }
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    key.copy_from_slice(&buffer);
    Ok(key)
}

/// The single place where an AEAD encryption error is turned into a panic: the only
/// error XChaCha20-Poly1305 can report is a message over 256 GiB.
fn encrypt(cipher: &XChaCha20Poly1305, nonce: &XNonce, msg: &[u8], aad: &[u8]) -> Vec<u8> {
    match cipher.encrypt(nonce, Payload { msg, aad }) {
        Ok(ciphertext) => ciphertext,
        Err(_) => panic!(
            "XChaCha20-Poly1305 refused a message of {} bytes",
            msg.len()
        ),
    }
}

fn random_key() -> Zeroizing<[u8; KEY_LEN]> {
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    OsRng.fill_bytes(&mut *key);
    key
}

/// A fresh 192-bit nonce from the thread's CSPRNG (ChaCha, seeded and periodically
/// reseeded from the OS): a dozen per registration, so not one system call each.
/// Keys still come straight from the OS.
fn random_nonce() -> XNonce {
    let mut nonce = XNonce::default();
    rand::thread_rng().fill_bytes(&mut nonce);
    nonce
}

fn decode_nonce(encoded: &str) -> Result<XNonce, SealError> {
    let bytes = STANDARD.decode(encoded).map_err(|_| SealError::Malformed)?;
    let bytes: [u8; NONCE_LEN] = bytes.try_into().map_err(|_| SealError::Malformed)?;
    Ok(XNonce::from(bytes))
}

/// Canonical associated data: every variable-length part is length-prefixed and every
/// other part has a fixed width, so two different contexts never encode the same.
struct Aad(Vec<u8>);

impl Aad {
    fn new(domain: &str) -> Self {
        let mut aad = Aad(Vec::with_capacity(96));
        aad.bytes(domain.as_bytes());
        aad
    }
    fn bytes(&mut self, b: &[u8]) -> &mut Self {
        // A field name longer than 4 GiB cannot occur; saturating keeps this total.
        let len = u32::try_from(b.len()).unwrap_or(u32::MAX);
        self.0.extend_from_slice(&len.to_be_bytes());
        self.0.extend_from_slice(b);
        self
    }
    fn uuid(&mut self, id: Uuid) -> &mut Self {
        self.0.extend_from_slice(id.as_bytes());
        self
    }
    fn u32(&mut self, n: u32) -> &mut Self {
        self.0.extend_from_slice(&n.to_be_bytes());
        self
    }
}

fn seal_aad(ctx: &SealContext<'_>, key_version: u32) -> Vec<u8> {
    let mut aad = Aad::new("belle-seal-v1");
    aad.uuid(ctx.tenant.as_uuid())
        .uuid(ctx.subject)
        .bytes(ctx.field.as_bytes())
        .u32(key_version);
    aad.0
}

fn dek_wrap_aad(tenant: TenantId, subject: Uuid, key_version: u32) -> Vec<u8> {
    let mut aad = Aad::new("belle-wrap-v1");
    aad.bytes(b"dek")
        .uuid(tenant.as_uuid())
        .uuid(subject)
        .u32(key_version);
    aad.0
}

fn index_wrap_aad(tenant: TenantId) -> Vec<u8> {
    let mut aad = Aad::new("belle-wrap-v1");
    aad.bytes(b"index").uuid(tenant.as_uuid());
    aad.0
}

fn decode_hex_key(s: &str) -> Option<Zeroizing<[u8; KEY_LEN]>> {
    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }
    if s.len() != KEY_LEN * 2 {
        return None;
    }
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    for (out, pair) in key.iter_mut().zip(s.as_bytes().chunks_exact(2)) {
        *out = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    Some(key)
}

fn decode_base64_key(s: &str) -> Option<Zeroizing<[u8; KEY_LEN]>> {
    [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
        .iter()
        .find_map(|engine| {
            let decoded = Zeroizing::new(engine.decode(s).ok()?);
            if decoded.len() != KEY_LEN {
                return None;
            }
            let mut key = Zeroizing::new([0u8; KEY_LEN]);
            key.copy_from_slice(&decoded);
            Some(key)
        })
}

fn hex_lower(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashSet;

    fn ctx(tenant: TenantId, subject: Uuid, field: &str) -> SealContext<'_> {
        SealContext::new(tenant, subject, field)
    }

    fn setup() -> (Dek, TenantId, Uuid) {
        (Dek::generate(), TenantId::new(), Uuid::now_v7())
    }

    #[test]
    fn a_sealed_value_opens_with_the_same_key_and_context() {
        let (dek, tenant, subject) = setup();
        let c = ctx(tenant, subject, "phone");
        let sealed = seal(&dek, 1, &c, "+8613800138000");
        assert_eq!(sealed.v, 1);
        assert_eq!(sealed.kv, 1);
        assert_eq!(open(&dek, &c, &sealed).expect("opens"), "+8613800138000");
    }

    #[test]
    fn a_sealed_value_survives_a_json_round_trip_in_the_documented_shape() {
        let (dek, tenant, subject) = setup();
        let c = ctx(tenant, subject, "name");
        let sealed = seal(&dek, 7, &c, "王小明");
        let json = serde_json::to_value(&sealed).expect("serialises");
        let obj = json.as_object().expect("an object");
        let mut keys: Vec<_> = obj.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["c", "kv", "n", "v"]);
        assert_eq!(obj["v"], 1);
        assert_eq!(obj["kv"], 7);
        let nonce = STANDARD
            .decode(obj["n"].as_str().expect("n is a string"))
            .expect("n is base64");
        assert_eq!(nonce.len(), 24);
        let back: SealedValue = serde_json::from_value(json).expect("deserialises");
        assert_eq!(open(&dek, &c, &back).expect("opens"), "王小明");
    }

    #[test]
    fn sealing_twice_gives_different_ciphertexts() {
        let (dek, tenant, subject) = setup();
        let c = ctx(tenant, subject, "phone");
        assert_ne!(seal(&dek, 1, &c, "x"), seal(&dek, 1, &c, "x"));
    }

    #[test]
    fn a_value_moved_to_another_field_fails_to_open() {
        let (dek, tenant, subject) = setup();
        let sealed = seal(&dek, 1, &ctx(tenant, subject, "phone"), "13800138000");
        assert!(matches!(
            open(&dek, &ctx(tenant, subject, "email"), &sealed),
            Err(SealError::Open)
        ));
    }

    #[test]
    fn a_value_moved_to_another_subject_fails_to_open_even_with_the_same_key() {
        let (dek, tenant, subject) = setup();
        let sealed = seal(&dek, 1, &ctx(tenant, subject, "phone"), "13800138000");
        assert!(matches!(
            open(&dek, &ctx(tenant, Uuid::now_v7(), "phone"), &sealed),
            Err(SealError::Open)
        ));
    }

    #[test]
    fn a_value_moved_to_another_tenant_fails_to_open_even_with_the_same_key() {
        let (dek, tenant, subject) = setup();
        let sealed = seal(&dek, 1, &ctx(tenant, subject, "phone"), "13800138000");
        assert!(matches!(
            open(&dek, &ctx(TenantId::new(), subject, "phone"), &sealed),
            Err(SealError::Open)
        ));
    }

    #[test]
    fn another_data_key_fails_to_open() {
        let (dek, tenant, subject) = setup();
        let c = ctx(tenant, subject, "phone");
        let sealed = seal(&dek, 1, &c, "13800138000");
        assert!(matches!(
            open(&Dek::generate(), &c, &sealed),
            Err(SealError::Open)
        ));
    }

    #[test]
    fn a_changed_key_version_fails_to_open() {
        let (dek, tenant, subject) = setup();
        let c = ctx(tenant, subject, "phone");
        let mut sealed = seal(&dek, 1, &c, "13800138000");
        sealed.kv = 2;
        assert!(matches!(open(&dek, &c, &sealed), Err(SealError::Open)));
    }

    #[test]
    fn tampered_ciphertext_or_nonce_fails_to_open() {
        let (dek, tenant, subject) = setup();
        let c = ctx(tenant, subject, "notes");
        let sealed = seal(&dek, 1, &c, "allergic to latex");
        let ct = STANDARD.decode(&sealed.c).expect("base64");
        for i in 0..ct.len() {
            let mut flipped = ct.clone();
            flipped[i] ^= 0x01;
            let tampered = SealedValue {
                c: STANDARD.encode(&flipped),
                ..sealed.clone()
            };
            assert!(matches!(open(&dek, &c, &tampered), Err(SealError::Open)));
        }
        let mut nonce = STANDARD.decode(&sealed.n).expect("base64");
        nonce[0] ^= 0x80;
        let tampered = SealedValue {
            n: STANDARD.encode(&nonce),
            ..sealed.clone()
        };
        assert!(matches!(open(&dek, &c, &tampered), Err(SealError::Open)));
        let truncated = SealedValue {
            c: STANDARD.encode(&ct[..ct.len() - 1]),
            ..sealed
        };
        assert!(matches!(open(&dek, &c, &truncated), Err(SealError::Open)));
    }

    #[test]
    fn malformed_or_unknown_versions_are_reported_as_such() {
        let (dek, tenant, subject) = setup();
        let c = ctx(tenant, subject, "phone");
        let sealed = seal(&dek, 1, &c, "x");
        let v2 = SealedValue {
            v: 2,
            ..sealed.clone()
        };
        assert!(matches!(open(&dek, &c, &v2), Err(SealError::Version(2))));
        let bad_nonce = SealedValue {
            n: STANDARD.encode([0u8; 12]),
            ..sealed.clone()
        };
        assert!(matches!(
            open(&dek, &c, &bad_nonce),
            Err(SealError::Malformed)
        ));
        let not_base64 = SealedValue {
            c: "%%%".into(),
            ..sealed.clone()
        };
        assert!(matches!(
            open(&dek, &c, &not_base64),
            Err(SealError::Malformed)
        ));
        let too_short = SealedValue {
            c: STANDARD.encode([0u8; 15]),
            ..sealed
        };
        assert!(matches!(
            open(&dek, &c, &too_short),
            Err(SealError::Malformed)
        ));
    }

    #[test]
    fn field_names_cannot_be_shifted_into_the_key_version() {
        // Length prefixes keep ("ab", version) and ("a", …) apart.
        let t = TenantId::new();
        let s = Uuid::now_v7();
        assert_ne!(seal_aad(&ctx(t, s, "ab"), 1), seal_aad(&ctx(t, s, "a"), 1));
        assert_ne!(
            seal_aad(&ctx(t, s, "phone"), 1),
            seal_aad(&ctx(t, s, "phone\0\0\0\0"), 1)
        );
    }

    #[test]
    fn no_nonce_repeats_over_1_000_000_seals() {
        let (dek, tenant, subject) = setup();
        let c = ctx(tenant, subject, "phone");
        let mut seen = HashSet::with_capacity(1_000_000);
        for _ in 0..1_000_000 {
            assert!(seen.insert(seal(&dek, 1, &c, "").n));
        }
    }

    #[test]
    fn a_wrapped_data_key_unwraps_to_the_same_key() {
        let kek = Kek::generate("k1");
        let (dek, tenant, subject) = setup();
        let wrapped = wrap_dek(&kek, tenant, subject, 1, &dek);
        assert_eq!(wrapped.len(), WRAPPED_KEY_LEN);
        let back = unwrap_dek(&kek, tenant, subject, 1, &wrapped).expect("unwraps");
        let c = ctx(tenant, subject, "phone");
        let sealed = seal(&dek, 1, &c, "13800138000");
        assert_eq!(open(&back, &c, &sealed).expect("opens"), "13800138000");
    }

    #[test]
    fn a_wrapped_data_key_fails_under_another_kek_tenant_subject_or_version() {
        let kek = Kek::generate("k1");
        let (dek, tenant, subject) = setup();
        let wrapped = wrap_dek(&kek, tenant, subject, 1, &dek);
        let other = Kek::generate("k1");
        assert!(matches!(
            unwrap_dek(&other, tenant, subject, 1, &wrapped),
            Err(SealError::Open)
        ));
        assert!(matches!(
            unwrap_dek(&kek, TenantId::new(), subject, 1, &wrapped),
            Err(SealError::Open)
        ));
        assert!(matches!(
            unwrap_dek(&kek, tenant, Uuid::now_v7(), 1, &wrapped),
            Err(SealError::Open)
        ));
        assert!(matches!(
            unwrap_dek(&kek, tenant, subject, 2, &wrapped),
            Err(SealError::Open)
        ));
        assert!(matches!(
            unwrap_dek(&kek, tenant, subject, 1, &wrapped[1..]),
            Err(SealError::Malformed)
        ));
    }

    #[test]
    fn an_index_key_wraps_and_unwraps_for_its_tenant_only() {
        let kek = Kek::generate("k1");
        let tenant = TenantId::new();
        let key = IndexKey::generate();
        let wrapped = wrap_index_key(&kek, tenant, &key);
        let back = unwrap_index_key(&kek, tenant, &wrapped).expect("unwraps");
        assert_eq!(
            blind_index(&key, "phone", "13800138000"),
            blind_index(&back, "phone", "13800138000")
        );
        assert!(matches!(
            unwrap_index_key(&kek, TenantId::new(), &wrapped),
            Err(SealError::Open)
        ));
        assert!(matches!(
            unwrap_index_key(&Kek::generate("k2"), tenant, &wrapped),
            Err(SealError::Open)
        ));
    }

    #[test]
    fn a_wrapped_index_key_is_not_accepted_as_a_data_key() {
        let kek = Kek::generate("k1");
        let tenant = TenantId::new();
        let wrapped = wrap_index_key(&kek, tenant, &IndexKey::generate());
        assert!(matches!(
            unwrap_dek(&kek, tenant, Uuid::nil(), 0, &wrapped),
            Err(SealError::Open)
        ));
    }

    #[test]
    fn blind_indexes_are_deterministic_keyed_and_purpose_separated() {
        let key = IndexKey::generate();
        let a = blind_index(&key, "phone", "13800138000");
        assert_eq!(a, blind_index(&key, "phone", "13800138000"));
        assert_eq!(a.len(), 64);
        assert!(a
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        assert_ne!(a, blind_index(&key, "phone-tail4", "13800138000"));
        assert_ne!(a, blind_index(&key, "phone", "13800138001"));
        assert_ne!(
            a,
            blind_index(&IndexKey::generate(), "phone", "13800138000")
        );
        // The separator keeps purpose and value apart.
        assert_ne!(blind_index(&key, "ab", "c"), blind_index(&key, "a", "bc"));
    }

    #[test]
    fn blind_index_is_standard_hmac_sha256() {
        let key = IndexKey::generate();
        let mut reference =
            <Hmac<Sha256> as Mac>::new_from_slice(&key.0[..]).expect("any key length");
        reference.update(b"phone\x0013800138000");
        assert_eq!(
            blind_index(&key, "phone", "13800138000"),
            hex_lower(&reference.finalize().into_bytes())
        );
    }

    #[test]
    fn blind_index_matches_a_known_answer() {
        // HMAC-SHA256(key = 0x00..0x1f, "phone\0" || "13800138000"), computed with
        // `openssl dgst -sha256 -mac HMAC -macopt hexkey:000102…1f`.
        let mut bytes = [0u8; 32];
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = u8::try_from(i).expect("small");
        }
        let key = IndexKey(Zeroizing::new(bytes));
        assert_eq!(blind_index(&key, "phone", "13800138000"), KNOWN_BLIND_INDEX);
    }

    const KNOWN_BLIND_INDEX: &str =
        "60b1a06f8bb341d015b2c5d4de216b2138bffd04d8d0d7fd961671f4986644a4";

    #[test]
    fn a_kek_spec_round_trips_and_accepts_hex_base64_and_a_default_id() {
        let kek = Kek::generate("k7");
        let spec = kek.to_spec();
        assert!(spec.starts_with("k7:"));
        let back = Kek::parse(&format!("  {spec}\n")).expect("parses");
        assert_eq!(back.id(), "k7");
        assert_eq!(*back.key, *kek.key);

        let hex = hex_lower(&kek.key[..]);
        let from_hex = Kek::parse(&hex).expect("hex parses");
        assert_eq!(from_hex.id(), "k1");
        assert_eq!(*from_hex.key, *kek.key);
        let from_upper_hex =
            Kek::parse(&format!("prod-2025:{}", hex.to_uppercase())).expect("upper hex parses");
        assert_eq!(from_upper_hex.id(), "prod-2025");
        assert_eq!(*from_upper_hex.key, *kek.key);

        let unpadded = URL_SAFE_NO_PAD.encode(&kek.key[..]);
        assert_eq!(*Kek::parse(&unpadded).expect("b64url").key, *kek.key);
    }

    #[test]
    fn bad_kek_specs_are_refused_without_echoing_them() {
        let short = STANDARD.encode([7u8; 16]);
        let zero = STANDARD.encode([0u8; 32]);
        let good = STANDARD.encode([7u8; 32]);
        for spec in [
            String::new(),
            "   ".into(),
            short.clone(),
            zero,
            format!(":{good}"),
            format!("bad id:{good}"),
            format!("{}:{good}", "x".repeat(33)),
            "zz".repeat(32),
        ] {
            let err = Kek::parse(&spec).expect_err("refused");
            assert!(matches!(err, SealError::BadKek(_)));
            let key_part = spec.rsplit(':').next().unwrap_or_default().trim();
            if !key_part.is_empty() {
                assert!(!err.to_string().contains(key_part));
            }
        }
    }

    #[test]
    fn debug_output_never_shows_keys_or_plaintext() {
        let kek = Kek::new("k1", [0xab; 32]);
        let debug = format!("{kek:?}");
        assert!(debug.contains("k1"));
        assert!(!debug.contains("ab, ") && !debug.contains("171"));
        assert!(!debug.contains(&STANDARD.encode([0xab; 32])));
        assert_eq!(format!("{:?}", Dek::generate()), "Dek(<redacted>)");
        assert_eq!(
            format!("{:?}", IndexKey::generate()),
            "IndexKey(<redacted>)"
        );
        assert_eq!(
            format!("{:?}", Opened::Plain("王小明".into())),
            "Plain(<redacted>)"
        );
        let (dek, tenant, subject) = setup();
        let sealed = seal(&dek, 3, &ctx(tenant, subject, "name"), "王小明");
        assert_eq!(format!("{sealed:?}"), "SealedValue(v1,kv3)");
    }

    proptest! {
        #[test]
        fn any_utf8_string_round_trips(plaintext in any::<String>(), field in "[a-z_]{1,16}", kv in 1u32..) {
            let (dek, tenant, subject) = setup();
            let c = ctx(tenant, subject, &field);
            let sealed = seal(&dek, kv, &c, &plaintext);
            prop_assert_eq!(open(&dek, &c, &sealed).expect("opens"), plaintext);
        }

        #[test]
        fn chinese_text_round_trips(plaintext in "[\u{4e00}-\u{9fff}\u{3000}-\u{303f}a-z0-9 ]{0,64}") {
            let (dek, tenant, subject) = setup();
            let c = ctx(tenant, subject, "notes");
            let sealed = seal(&dek, 1, &c, &plaintext);
            let json = serde_json::to_string(&sealed).expect("serialises");
            let back: SealedValue = serde_json::from_str(&json).expect("deserialises");
            prop_assert_eq!(open(&dek, &c, &back).expect("opens"), plaintext);
        }
    }
}
