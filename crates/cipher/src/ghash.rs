//! GHASH (NIST SP 800-38D §6.4) with carry-less multiplication, eight blocks per reduction.
//!
//! Compiled only where PCLMULQDQ and SSSE3 are enabled at build time (the workspace's
//! `.cargo/config.toml` enables them for x86-64; other builds use RustCrypto's `aes-gcm`
//! whole). RustCrypto's `ghash` handles four blocks per call through two wrapper layers
//! and spends about twice the time of AES itself in an AES-GCM packet; this loop takes a
//! whole packet per call with the accumulator in a register.
//!
//! GHASH is computed as POLYVAL (RFC 8452 §3 and Appendix A): with `H' = mulX(rev(H))`,
//! `GHASH(H, X_1..X_n) = rev(POLYVAL(H', rev(X_1)..rev(X_n)))`, where `rev` reverses the
//! 16 bytes of a block. POLYVAL's `dot(a, b) = a * b * x^-128` needs no bit reflection:
//! a 256-bit carry-less product (Karatsuba, three multiplications) and a Montgomery
//! reduction by x^128 (two multiplications by `0xc2 << 56`). Eight blocks are multiplied
//! by `H'^8 .. H'^1`, summed unreduced and reduced once. Constant time: no table lookups
//! and no branches on secret data.

use safe_arch::{
    byte_shl_imm_u128_m128i, byte_shr_imm_u128_m128i, m128i, mul_i64_carryless_m128i, set_i8_m128i,
    shuffle_ai_f32_all_m128i, shuffle_av_i8z_all_m128i, zeroed_m128i,
};
use zeroize::Zeroize;

/// Blocks multiplied before one reduction.
const STRIDE: usize = 8;

/// The GHASH key `H` in POLYVAL form, with its powers `H^1 .. H^8` and each power's two
/// halves XORed (the Karatsuba middle operand). Zeroized on drop.
pub(crate) struct GhashKey {
    /// `powers[i]` = `H^(i+1)`.
    powers: [u128; STRIDE],
    /// `karatsuba[i]` = low half of `powers[i]` XOR its high half.
    karatsuba: [u128; STRIDE],
}

impl GhashKey {
    /// The key for `h` = AES_K(0^128).
    pub(crate) fn new(h: &[u8; 16]) -> Self {
        // mulX(rev(H)) in POLYVAL's field (RFC 8452 Appendix A).
        let v = u128::from_be_bytes(*h);
        let carry = 0u128.wrapping_sub(v >> 127);
        let h1 = (v << 1) ^ (carry & 0xc200_0000_0000_0000_0000_0000_0000_0001);
        let mut powers = [h1; STRIDE];
        let mut prev = m128i::from(h1);
        for p in powers.iter_mut().skip(1) {
            prev = dot(prev, m128i::from(h1));
            *p = u128::from(prev);
        }
        let karatsuba = powers.map(|p| p ^ (p >> 64) ^ (p << 64));
        Self { powers, karatsuba }
    }

    fn power(&self, i: usize) -> (m128i, m128i) {
        let p = self.powers.get(i).copied().unwrap_or_default();
        let k = self.karatsuba.get(i).copied().unwrap_or_default();
        (m128i::from(p), m128i::from(k))
    }
}

impl Drop for GhashKey {
    fn drop(&mut self) {
        self.powers.zeroize();
        self.karatsuba.zeroize();
    }
}

/// One GHASH computation under a [`GhashKey`].
pub(crate) struct Ghash<'k> {
    key: &'k GhashKey,
    /// The POLYVAL accumulator.
    acc: m128i,
}

impl<'k> Ghash<'k> {
    pub(crate) fn new(key: &'k GhashKey) -> Self {
        Self {
            key,
            acc: zeroed_m128i(),
        }
    }

    /// Absorbs `data`, zero-padded to a whole number of blocks.
    pub(crate) fn update_padded(&mut self, data: &[u8]) {
        let (blocks, rest) = data.as_chunks::<16>();
        let (groups, single) = blocks.as_chunks::<STRIDE>();
        let mut acc = self.acc;
        let (h1, k1) = self.key.power(0);
        for group in groups {
            let mut sum = Product::default();
            for (i, block) in group.iter().enumerate() {
                let mut x = reverse(m128i::from(*block));
                if i == 0 {
                    x ^= acc;
                }
                let (h, k) = self.key.power(STRIDE - 1 - i);
                sum.add(x, h, k);
            }
            acc = sum.reduce();
        }
        for block in single {
            acc = mul(reverse(m128i::from(*block)) ^ acc, h1, k1);
        }
        if !rest.is_empty() {
            let mut block = [0u8; 16];
            for (b, r) in block.iter_mut().zip(rest) {
                *b = *r;
            }
            acc = mul(reverse(m128i::from(block)) ^ acc, h1, k1);
        }
        self.acc = acc;
    }

    /// The GHASH value.
    pub(crate) fn finalize(mut self) -> [u8; 16] {
        let out = <[u8; 16]>::from(reverse(self.acc));
        self.acc = zeroed_m128i();
        out
    }
}

/// Reverses the 16 bytes of a block (GHASH's byte order to POLYVAL's and back).
fn reverse(x: m128i) -> m128i {
    shuffle_av_i8z_all_m128i(
        x,
        set_i8_m128i(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
    )
}

/// Swaps the two 64-bit halves.
fn swap_halves(x: m128i) -> m128i {
    shuffle_ai_f32_all_m128i::<0x4e>(x)
}

/// An unreduced sum of 256-bit carry-less products, in Karatsuba's three parts.
#[derive(Clone, Copy)]
struct Product {
    lo: m128i,
    mid: m128i,
    hi: m128i,
}

impl Default for Product {
    fn default() -> Self {
        Self {
            lo: zeroed_m128i(),
            mid: zeroed_m128i(),
            hi: zeroed_m128i(),
        }
    }
}

impl Product {
    /// Adds `x * h`, `k` being `h`'s halves XORed.
    fn add(&mut self, x: m128i, h: m128i, k: m128i) {
        self.lo ^= mul_i64_carryless_m128i::<0x00>(x, h);
        self.hi ^= mul_i64_carryless_m128i::<0x11>(x, h);
        self.mid ^= mul_i64_carryless_m128i::<0x00>(x ^ swap_halves(x), k);
    }

    /// The sum times x^-128, modulo POLYVAL's polynomial (a Montgomery reduction).
    fn reduce(self) -> m128i {
        let mid = self.mid ^ self.lo ^ self.hi;
        let lo = self.lo ^ byte_shl_imm_u128_m128i::<8>(mid);
        let hi = self.hi ^ byte_shr_imm_u128_m128i::<8>(mid);
        let poly = m128i::from(0xc200_0000_0000_0000_0000_0000_0000_0000_u128);
        let lo = swap_halves(lo) ^ mul_i64_carryless_m128i::<0x10>(lo, poly);
        let lo = swap_halves(lo) ^ mul_i64_carryless_m128i::<0x10>(lo, poly);
        hi ^ lo
    }
}

/// `dot(x, h)`, `k` being `h`'s halves XORed.
fn mul(x: m128i, h: m128i, k: m128i) -> m128i {
    let mut p = Product::default();
    p.add(x, h, k);
    p.reduce()
}

/// `dot(a, b)`.
fn dot(a: m128i, b: m128i) -> m128i {
    mul(a, b, b ^ swap_halves(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    use ghash::universal_hash::UniversalHash;

    /// McGrew & Viega, "The Galois/Counter Mode of Operation", test case 2: H =
    /// AES_0(0^128), one ciphertext block and the length block.
    #[test]
    fn ghash_test_case_2() {
        let h = hex::decode("66e94bd4ef8a2c3b884cfa59ca342b2e").unwrap();
        let key = GhashKey::new(&h.try_into().unwrap());
        let mut g = Ghash::new(&key);
        g.update_padded(&hex::decode("0388dace60b6a392f328c2b971b2fe78").unwrap());
        let mut len = [0u8; 16];
        len[8..].copy_from_slice(&128u64.to_be_bytes());
        g.update_padded(&len);
        assert_eq!(
            hex::encode(g.finalize()),
            "f38cbb1ad69223dcc3457ae5b6b0f885"
        );
    }

    /// The same value as RustCrypto's `ghash` for every length up to 40 blocks and some
    /// packet-sized ones, in one or two updates (each padded), under random keys.
    #[test]
    fn matches_rustcrypto_ghash() {
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let mut byte = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed.to_le_bytes()[0]
        };
        let lens = (0..=640).chain([2048, 32_768, 32_768 + 20, 35_000]);
        for len in lens {
            let key: [u8; 16] = core::array::from_fn(|_| byte());
            let data: Vec<u8> = (0..len).map(|_| byte()).collect();
            let split = len / 3;
            let mut want = ghash::GHash::new(&key.into());
            want.update_padded(&data[..split]);
            want.update_padded(&data[split..]);
            let want: [u8; 16] = want.finalize().into();
            let k = GhashKey::new(&key);
            let mut got = Ghash::new(&k);
            got.update_padded(&data[..split]);
            got.update_padded(&data[split..]);
            assert_eq!(got.finalize(), want, "length {len}");
        }
    }
}
