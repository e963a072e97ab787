//! Finite-field Diffie-Hellman (RFC 4253 §8, RFC 4419): groups, key generation, the
//! peer-value checks of OpenSSH's `dh_pub_is_valid`, and modular exponentiation with
//! `crypto-bigint` (constant time in the secret exponent).

use alloc::vec::Vec;
use core::cmp::Ordering;

use crypto_bigint::modular::{BoxedMontyForm, BoxedMontyParams};
use crypto_bigint::{BoxedUint, Odd};
use rand_core::CryptoRng;
use whelk_wire::types::MpInt;
use zeroize::{Zeroize, Zeroizing};

use crate::error::{Error, Result};
use crate::groups;

/// Smallest group a client accepts and a server offers in group exchange (OpenSSH
/// `DH_GRP_MIN`; catalog K13).
pub const GEX_MIN_BITS: u32 = 2048;
/// Largest group size in group exchange (OpenSSH `DH_GRP_MAX`).
pub const GEX_MAX_BITS: u32 = 8192;
/// Largest modulus this crate computes with at all (OpenSSH `SSHBUF_MAX_BIGNUM`, 16384 bits).
pub const MAX_MODULUS_BITS: u32 = 16384;

/// A built-in group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Group {
    /// RFC 2409 Oakley group 2 (1024 bits), `diffie-hellman-group1-sha1` only.
    Oakley1024,
    /// RFC 3526 group 14 (2048 bits).
    Modp2048,
    /// RFC 3526 group 16 (4096 bits).
    Modp4096,
    /// RFC 3526 group 18 (8192 bits).
    Modp8192,
}

impl Group {
    /// The prime, big-endian.
    #[must_use]
    pub fn prime(self) -> &'static [u8] {
        match self {
            Self::Oakley1024 => &groups::OAKLEY1024,
            Self::Modp2048 => &groups::MODP2048,
            Self::Modp4096 => &groups::MODP4096,
            Self::Modp8192 => &groups::MODP8192,
        }
    }

    /// The size of the prime in bits.
    #[must_use]
    pub const fn bits(self) -> u32 {
        match self {
            Self::Oakley1024 => 1024,
            Self::Modp2048 => 2048,
            Self::Modp4096 => 4096,
            Self::Modp8192 => 8192,
        }
    }

    /// The group as a [`DhGroup`].
    #[must_use]
    pub fn dh_group(self) -> DhGroup {
        DhGroup {
            p: self.prime().to_vec(),
            g: alloc::vec![2],
        }
    }
}

/// A Diffie-Hellman group `(p, g)`, kept as unsigned big-endian magnitudes without leading
/// zeros.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct DhGroup {
    p: Vec<u8>,
    g: Vec<u8>,
}

impl core::fmt::Debug for DhGroup {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "DhGroup({} bits, g = ", self.bits())?;
        for b in &self.g {
            write!(f, "{b:02x}")?;
        }
        write!(f, ")")
    }
}

/// Strips leading zero bytes.
pub(crate) fn trim(be: &[u8]) -> &[u8] {
    let start = be.iter().position(|&b| b != 0).unwrap_or(be.len());
    be.get(start..).unwrap_or_default()
}

/// Compares two unsigned big-endian numbers.
pub(crate) fn be_cmp(a: &[u8], b: &[u8]) -> Ordering {
    let (a, b) = (trim(a), trim(b));
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

/// Bit length of an unsigned big-endian number.
pub(crate) fn bit_len(be: &[u8]) -> u32 {
    let t = trim(be);
    match t.first() {
        None => 0,
        Some(&top) => {
            let rest = u32::try_from(t.len().saturating_sub(1))
                .unwrap_or(u32::MAX)
                .saturating_mul(8);
            rest.saturating_add(8 - top.leading_zeros())
        }
    }
}

/// `v - 1` for an odd (so non-zero, no borrow) unsigned big-endian number.
fn minus_one_odd(v: &[u8]) -> Vec<u8> {
    let mut out = v.to_vec();
    if let Some(last) = out.last_mut() {
        *last &= 0xfe;
    }
    out
}

fn precision(bytes: usize) -> u32 {
    let bits = u32::try_from(bytes).unwrap_or(u32::MAX).saturating_mul(8);
    bits.div_ceil(64).saturating_mul(64).max(64)
}

/// A secret exponent, zeroized on drop.
pub(crate) struct DhSecret {
    x: BoxedUint,
    bits: u32,
}

impl Drop for DhSecret {
    fn drop(&mut self) {
        self.x.zeroize();
    }
}

impl DhGroup {
    /// A group from big-endian magnitudes, checked: `p` odd, at most
    /// [`MAX_MODULUS_BITS`] bits, at least 512 bits; `1 < g < p - 1`. (Whether `p` is a safe
    /// prime is not tested: that costs far more than the exchange. Clients limit the size
    /// instead, see [`crate::GexRequest`].)
    pub fn new(p: &[u8], g: &[u8]) -> Result<Self> {
        let p = trim(p);
        let g = trim(g);
        let bits = bit_len(p);
        if !(512..=MAX_MODULUS_BITS).contains(&bits) {
            return Err(Error::GroupExchange("group modulus size out of range"));
        }
        if p.last().is_none_or(|b| b & 1 == 0) {
            return Err(Error::GroupExchange("group modulus is even"));
        }
        if be_cmp(g, &[1]) != Ordering::Greater || be_cmp(g, &minus_one_odd(p)) != Ordering::Less {
            return Err(Error::GroupExchange("generator out of range"));
        }
        Ok(Self {
            p: p.to_vec(),
            g: g.to_vec(),
        })
    }

    /// The modulus size in bits.
    #[must_use]
    pub fn bits(&self) -> u32 {
        bit_len(&self.p)
    }

    /// The prime, big-endian.
    #[must_use]
    pub fn p(&self) -> &[u8] {
        &self.p
    }

    /// The generator, big-endian.
    #[must_use]
    pub fn g(&self) -> &[u8] {
        &self.g
    }

    /// `p` as an mpint.
    #[must_use]
    pub fn p_mpint(&self) -> MpInt {
        MpInt::from_unsigned_be(&self.p)
    }

    /// `g` as an mpint.
    #[must_use]
    pub fn g_mpint(&self) -> MpInt {
        MpInt::from_unsigned_be(&self.g)
    }

    fn params(&self) -> Result<BoxedMontyParams> {
        let prec = precision(self.p.len());
        let p = BoxedUint::from_be_slice(&self.p, prec)
            .map_err(|_| Error::State("DH modulus encoding"))?;
        let odd = Option::<Odd<BoxedUint>>::from(Odd::new(p))
            .ok_or(Error::GroupExchange("group modulus is even"))?;
        Ok(BoxedMontyParams::new(odd))
    }

    fn uint(&self, be: &[u8]) -> Result<BoxedUint> {
        BoxedUint::from_be_slice(trim(be), precision(self.p.len()))
            .map_err(|_| Error::State("DH value encoding"))
    }

    /// OpenSSH's `dh_pub_is_valid`: `1 < v < p - 1`, non-negative, and at least 4 bits set
    /// (catalog K12). Returns the magnitude.
    pub(crate) fn check_public<'a>(
        &self,
        v: &'a MpInt,
        method: &'static str,
        what: &'static str,
    ) -> Result<&'a [u8]> {
        let mag = v
            .unsigned_be()
            .ok_or(Error::peer(method, what, "negative"))?;
        if be_cmp(mag, &[1]) != Ordering::Greater {
            return Err(Error::peer(method, what, "not greater than 1"));
        }
        if be_cmp(mag, &minus_one_odd(&self.p)) != Ordering::Less {
            return Err(Error::peer(method, what, "not less than p - 1"));
        }
        let ones: u32 = mag.iter().map(|b| b.count_ones()).sum();
        if ones < 4 {
            return Err(Error::peer(method, what, "fewer than 4 bits set"));
        }
        Ok(mag)
    }

    /// A secret exponent of `exp_bits` bits (top bit set; capped below the modulus size) and
    /// the public value `g^x mod p`.
    pub(crate) fn keygen<R: CryptoRng + ?Sized>(
        &self,
        rng: &mut R,
        exp_bits: u32,
    ) -> Result<(DhSecret, MpInt)> {
        let cap = self.bits().saturating_sub(64) / 64 * 64;
        let bits = exp_bits.div_ceil(64).saturating_mul(64).min(cap).max(64);
        let len = usize::try_from(bits / 8).map_err(|_| Error::State("exponent size"))?;
        let mut bytes = Zeroizing::new(alloc::vec![0u8; len]);
        rng.fill_bytes(&mut bytes);
        if let Some(top) = bytes.first_mut() {
            *top |= 0x80;
        }
        let x = BoxedUint::from_be_slice(&bytes, bits)
            .map_err(|_| Error::State("exponent encoding"))?;
        let secret = DhSecret { x, bits };
        let params = self.params()?;
        let g = BoxedMontyForm::new(self.uint(&self.g)?, &params);
        let e = g.pow_bounded_exp(&secret.x, secret.bits).retrieve();
        let e_be = e.to_be_bytes();
        let public = MpInt::from_unsigned_be(&e_be);
        // OpenSSH regenerates in this case; the probability is negligible.
        self.check_public(&public, "DH", "own public value")?;
        Ok((secret, public))
    }

    /// `peer^x mod p` as the big-endian magnitude (zeroized on drop). `peer` must have
    /// passed [`DhGroup::check_public`].
    pub(crate) fn shared(&self, secret: &DhSecret, peer: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        let params = self.params()?;
        let base = BoxedMontyForm::new(self.uint(peer)?, &params);
        let mut k_monty = base.pow_bounded_exp(&secret.x, secret.bits);
        let mut k = k_monty.retrieve();
        k_monty.zeroize();
        let be = Zeroizing::new(k.to_be_bytes());
        k.zeroize();
        let out = Zeroizing::new(trim(&be).to_vec());
        Ok(out)
    }
}
