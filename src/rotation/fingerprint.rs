//! Canton key fingerprints: `1220` ‖ hex(SHA-256(int32 big-endian 12 ‖ key data)).
//!
//! Mirrors `Fingerprint.create` / `Hash.digest(HashPurpose.PublicKeyFingerprint, …)` in Canton
//! (community/base/…/crypto/CryptoKeys.scala, Hash.scala, HashBuilder.scala, HashPurpose.scala,
//! v3.4.11): the hash purpose (12) is prefixed as a 4-byte big-endian integer, and the result is
//! a multihash (0x12 = SHA-256, 0x20 = 32 bytes). The key data is the `public_key` bytes, except
//! for Ed25519 keys in X.509 SubjectPublicKeyInfo form, whose fingerprint covers only the raw
//! 32-byte key (Signing.scala `getDataForFingerprint`, kept from when they were stored raw).
//! Encryption keys always hash their bytes as they are (Encryption.scala).

use ring::digest::{SHA256, digest};

use super::proto::crypto::{
    CryptoKeyFormat, EncryptionPublicKey, PublicKey, SigningKeySpec, SigningPublicKey, public_key,
};

/// `HashPurpose.PublicKeyFingerprint`.
pub(crate) const PUBLIC_KEY_FINGERPRINT_PURPOSE: i32 = 12;
/// Multihash prefix of a SHA-256 digest, as hex.
pub(crate) const MULTIHASH_SHA256_PREFIX: &str = "1220";
/// Length of a fingerprint in hex characters.
pub(crate) const FINGERPRINT_LEN: usize = 68;

/// Why a key's fingerprint cannot be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FingerprintError {
    #[error("the public key message holds no key")]
    Empty,
    #[error("the Ed25519 key is not a valid X.509 SubjectPublicKeyInfo")]
    InvalidSpki,
}

/// The fingerprint of `data`, the bytes Canton hashes for a key.
pub(crate) fn fingerprint_of(data: &[u8]) -> String {
    let mut input = Vec::with_capacity(4 + data.len());
    input.extend_from_slice(&PUBLIC_KEY_FINGERPRINT_PURPOSE.to_be_bytes());
    input.extend_from_slice(data);
    let hash = digest(&SHA256, &input);
    let mut out = String::with_capacity(FINGERPRINT_LEN);
    out.push_str(MULTIHASH_SHA256_PREFIX);
    for b in hash.as_ref() {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// The fingerprint Canton gives a public key.
pub fn key_fingerprint(key: &PublicKey) -> Result<String, FingerprintError> {
    match &key.key {
        Some(public_key::Key::SigningPublicKey(k)) => signing_fingerprint(k),
        Some(public_key::Key::EncryptionPublicKey(k)) => Ok(encryption_fingerprint(k)),
        None => Err(FingerprintError::Empty),
    }
}

/// The fingerprint of a signing key.
pub(crate) fn signing_fingerprint(key: &SigningPublicKey) -> Result<String, FingerprintError> {
    let spki = key.format == CryptoKeyFormat::DerX509SubjectPublicKeyInfo as i32;
    let ed25519 = key.key_spec == SigningKeySpec::EcCurve25519 as i32;
    if spki && ed25519 {
        let raw = spki_key_bits(&key.public_key).ok_or(FingerprintError::InvalidSpki)?;
        return Ok(fingerprint_of(raw));
    }
    Ok(fingerprint_of(&key.public_key))
}

/// The fingerprint of an encryption key.
pub(crate) fn encryption_fingerprint(key: &EncryptionPublicKey) -> String {
    fingerprint_of(&key.public_key)
}

/// Whether `s` looks like a fingerprint (what the CRD's pattern admits).
#[cfg(test)]
fn is_fingerprint(s: &str) -> bool {
    s.len() == FINGERPRINT_LEN
        && s.starts_with(MULTIHASH_SHA256_PREFIX)
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The key bits of a DER SubjectPublicKeyInfo: SEQUENCE { AlgorithmIdentifier, BIT STRING }.
fn spki_key_bits(der: &[u8]) -> Option<&[u8]> {
    let (tag, body, rest) = der_element(der)?;
    if tag != 0x30 || !rest.is_empty() {
        return None;
    }
    let (alg_tag, _, after_alg) = der_element(body)?;
    if alg_tag != 0x30 {
        return None;
    }
    let (bits_tag, bits, after_bits) = der_element(after_alg)?;
    if bits_tag != 0x03 || !after_bits.is_empty() {
        return None;
    }
    // The first byte counts unused bits; a key is always whole bytes.
    match bits.split_first() {
        Some((0, key)) => Some(key),
        _ => None,
    }
}

/// One DER element: (tag, contents, what follows).
fn der_element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SPKI header of an Ed25519 key (RFC 8410): SEQUENCE, AlgorithmIdentifier id-Ed25519, BIT STRING.
    const ED25519_SPKI_PREFIX: [u8; 12] = [
        0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
    ];

    fn ed25519_spki(raw: &[u8; 32]) -> Vec<u8> {
        let mut v = ED25519_SPKI_PREFIX.to_vec();
        v.extend_from_slice(raw);
        v
    }

    #[test]
    fn known_vector() {
        // python3 -c "import hashlib;print('1220'+hashlib.sha256(bytes([0,0,0,12])+bytes(range(32))).hexdigest())"
        let raw: Vec<u8> = (0u8..32).collect();
        assert_eq!(
            fingerprint_of(&raw),
            "122093aa96c5554371f0d1fd471ce282f3b590ab0758f35c124924c8e3715910bbe1"
        );
    }

    #[test]
    fn fingerprint_shape() {
        let fp = fingerprint_of(b"key");
        assert!(is_fingerprint(&fp), "{fp}");
        assert!(!is_fingerprint("1220"));
        assert!(!is_fingerprint(&fp.to_uppercase()));
        assert!(!is_fingerprint(&format!("1221{}", &fp[4..])));
    }

    #[test]
    fn ed25519_spki_and_raw_share_a_fingerprint() {
        let raw = [7u8; 32];
        let raw_key = SigningPublicKey {
            format: CryptoKeyFormat::Raw as i32,
            public_key: raw.to_vec(),
            key_spec: SigningKeySpec::EcCurve25519 as i32,
            ..Default::default()
        };
        let spki_key = SigningPublicKey {
            format: CryptoKeyFormat::DerX509SubjectPublicKeyInfo as i32,
            public_key: ed25519_spki(&raw),
            ..raw_key.clone()
        };
        assert_eq!(signing_fingerprint(&raw_key), Ok(fingerprint_of(&raw)));
        assert_eq!(signing_fingerprint(&spki_key), Ok(fingerprint_of(&raw)));
    }

    #[test]
    fn ec_keys_hash_their_der_bytes() {
        let der = ed25519_spki(&[1; 32]);
        let p256 = SigningPublicKey {
            format: CryptoKeyFormat::DerX509SubjectPublicKeyInfo as i32,
            public_key: der.clone(),
            key_spec: SigningKeySpec::EcP256 as i32,
            ..Default::default()
        };
        assert_eq!(signing_fingerprint(&p256), Ok(fingerprint_of(&der)));
        let enc = EncryptionPublicKey {
            public_key: der.clone(),
            ..Default::default()
        };
        let wrapped = PublicKey {
            key: Some(public_key::Key::EncryptionPublicKey(enc)),
        };
        assert_eq!(key_fingerprint(&wrapped), Ok(fingerprint_of(&der)));
    }

    #[test]
    fn broken_spki_is_an_error_not_a_panic() {
        let key = SigningPublicKey {
            format: CryptoKeyFormat::DerX509SubjectPublicKeyInfo as i32,
            public_key: vec![0x30, 0x81],
            key_spec: SigningKeySpec::EcCurve25519 as i32,
            ..Default::default()
        };
        assert_eq!(
            signing_fingerprint(&key),
            Err(FingerprintError::InvalidSpki)
        );
        assert_eq!(
            key_fingerprint(&PublicKey { key: None }),
            Err(FingerprintError::Empty)
        );
    }
}
