//! `aes128-gcm@openssh.com` and `aes256-gcm@openssh.com` (RFC 5647 as OpenSSH implements it:
//! the MAC negotiation is ignored, the 4-byte length travels in clear as additional
//! authenticated data, and packets align to 16 bytes without the length field).
//!
//! The 12-byte nonce is the KEX-derived IV: a 4-byte fixed field and an 8-byte invocation
//! counter that is incremented (big-endian, modulo 2^64) after every packet (RFC 5647 §7.1).
//! The sequence number is not an input: the counter plays its part.
//!
//! Builds with PCLMULQDQ and SSSE3 enabled (the workspace's own, `.cargo/config.toml`) run
//! AES-CTR from RustCrypto's `aes`/`ctr` with whelk's carry-less GHASH ([`crate::ghash`]);
//! other builds use RustCrypto's `aes-gcm`. Both give the same bytes (tested against each
//! other and the NIST vectors).

use core::ops::Range;

#[cfg(not(all(
    target_arch = "x86_64",
    target_feature = "pclmulqdq",
    target_feature = "ssse3"
)))]
use aes_gcm::KeyInit;
use alloc::boxed::Box;
use bytes::BytesMut;
use whelk_wire::frame::Alignment;
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::packet::{PacketOpener, PacketSealer, check_openable, check_sealable, payload_range};

/// Tag length.
pub(crate) const TAG_LEN: usize = 16;
/// IV (nonce) length.
pub(crate) const IV_LEN: usize = 12;

/// Key size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum GcmKind {
    Aes128,
    Aes256,
}

/// AES-GCM with a 12-byte nonce and a 16-byte tag, as [`State`] uses it.
trait GcmCipher {
    /// Encrypts `data` in place; the tag.
    fn seal(&self, nonce: &[u8; IV_LEN], aad: &[u8], data: &mut [u8]) -> Result<[u8; TAG_LEN]>;
    /// Checks `tag` (in constant time), then decrypts `data` in place; on a bad tag the
    /// data is left as it was.
    fn open(&self, nonce: &[u8; IV_LEN], aad: &[u8], data: &mut [u8], tag: &[u8]) -> Result<()>;
}

#[cfg(not(all(
    target_arch = "x86_64",
    target_feature = "pclmulqdq",
    target_feature = "ssse3"
)))]
type Aes128Impl = aes_gcm::Aes128Gcm;
#[cfg(not(all(
    target_arch = "x86_64",
    target_feature = "pclmulqdq",
    target_feature = "ssse3"
)))]
type Aes256Impl = aes_gcm::Aes256Gcm;
#[cfg(all(
    target_arch = "x86_64",
    target_feature = "pclmulqdq",
    target_feature = "ssse3"
))]
type Aes128Impl = clmul::Gcm<aes::Aes128>;
#[cfg(all(
    target_arch = "x86_64",
    target_feature = "pclmulqdq",
    target_feature = "ssse3"
))]
type Aes256Impl = clmul::Gcm<aes::Aes256>;

/// RustCrypto's `aes-gcm` (zeroizes its key schedule and GHASH key on drop).
impl<C> GcmCipher for aes_gcm::AesGcm<C, aes_gcm::aead::consts::U12>
where
    C: aes::cipher::BlockCipherEncrypt
        + aes::cipher::BlockSizeUser<BlockSize = aes::cipher::consts::U16>,
{
    fn seal(&self, nonce: &[u8; IV_LEN], aad: &[u8], data: &mut [u8]) -> Result<[u8; TAG_LEN]> {
        use aes_gcm::aead::AeadInOut;
        self.encrypt_inout_detached(&(*nonce).into(), aad, data.into())
            .map(Into::into)
            .map_err(|_| Error::Mac)
    }

    fn open(&self, nonce: &[u8; IV_LEN], aad: &[u8], data: &mut [u8], tag: &[u8]) -> Result<()> {
        use aes_gcm::aead::AeadInOut;
        let tag = aes_gcm::Tag::try_from(tag).map_err(|_| Error::Mac)?;
        // aes-gcm compares the tag in constant time and leaves the data untouched on failure.
        self.decrypt_inout_detached(&(*nonce).into(), aad, data.into(), &tag)
            .map_err(|_| Error::Mac)
    }
}

/// AES-GCM from RustCrypto's AES-CTR and the carry-less GHASH.
#[cfg(all(
    target_arch = "x86_64",
    target_feature = "pclmulqdq",
    target_feature = "ssse3"
))]
mod clmul {
    use aes::cipher::array::Array;
    use aes::cipher::consts::U16;
    use aes::cipher::inout::InOutBuf;
    use aes::cipher::{BlockCipherEncrypt, BlockSizeUser, InnerIvInit, KeyInit, StreamCipherCore};
    use subtle::ConstantTimeEq;
    use zeroize::Zeroize;

    use super::{GcmCipher, IV_LEN, TAG_LEN};
    use crate::error::{Error, Result};
    use crate::ghash::{Ghash, GhashKey};

    type Ctr<'a, C> = ctr::CtrCore<&'a C, ctr::flavors::Ctr32BE>;

    /// The AES key schedule (zeroized on drop: `aes`'s `zeroize` feature) and the GHASH
    /// key.
    pub(super) struct Gcm<C> {
        cipher: C,
        ghash: GhashKey,
    }

    impl<C: BlockCipherEncrypt + BlockSizeUser<BlockSize = U16> + KeyInit> Gcm<C> {
        pub(super) fn new_from_slice(
            key: &[u8],
        ) -> core::result::Result<Self, aes::cipher::InvalidLength> {
            let cipher = C::new_from_slice(key)?;
            // H = AES_K(0^128).
            let mut h = Array::<u8, U16>::default();
            cipher.encrypt_block(&mut h);
            let mut bytes = [0u8; 16];
            for (b, x) in bytes.iter_mut().zip(h.iter_mut()) {
                *b = core::mem::take(x);
            }
            let ghash = GhashKey::new(&bytes);
            bytes.zeroize();
            Ok(Self { cipher, ghash })
        }

        /// The counter from J0 = nonce || 1, and the tag mask AES_K(J0); the counter
        /// then stands at inc32(J0), where the data starts (SP 800-38D §7.1).
        fn start(&self, nonce: &[u8; IV_LEN]) -> (Ctr<'_, C>, [u8; 16]) {
            let mut j0 = Array::<u8, U16>::default();
            for (j, n) in j0.iter_mut().zip(nonce) {
                *j = *n;
            }
            if let Some(last) = j0.last_mut() {
                *last = 1;
            }
            let mut ctr = Ctr::inner_iv_init(&self.cipher, &j0);
            let mut mask = Array::<u8, U16>::default();
            ctr.write_keystream_block(&mut mask);
            (ctr, mask.into())
        }

        /// GHASH over the padded AAD, the padded ciphertext and their bit lengths, masked.
        fn tag(&self, mask: &[u8; 16], aad: &[u8], ct: &[u8]) -> [u8; TAG_LEN] {
            let mut g = Ghash::new(&self.ghash);
            g.update_padded(aad);
            g.update_padded(ct);
            let mut lengths = [0u8; 16];
            let bits = |n: usize| {
                u64::try_from(n)
                    .unwrap_or(u64::MAX)
                    .wrapping_mul(8)
                    .to_be_bytes()
            };
            for (l, b) in lengths
                .iter_mut()
                .zip(bits(aad.len()).into_iter().chain(bits(ct.len())))
            {
                *l = b;
            }
            g.update_padded(&lengths);
            let mut tag = g.finalize();
            for (t, m) in tag.iter_mut().zip(mask) {
                *t ^= m;
            }
            tag
        }
    }

    /// The key schedule wipes itself; [`GhashKey`] wipes its powers of H.
    impl<C: zeroize::ZeroizeOnDrop> zeroize::ZeroizeOnDrop for Gcm<C> {}

    impl<C: BlockCipherEncrypt + BlockSizeUser<BlockSize = U16> + KeyInit> GcmCipher for Gcm<C> {
        fn seal(&self, nonce: &[u8; IV_LEN], aad: &[u8], data: &mut [u8]) -> Result<[u8; TAG_LEN]> {
            let (ctr, mut mask) = self.start(nonce);
            ctr.try_apply_keystream_partial(InOutBuf::from(&mut *data))
                .map_err(|_| Error::Mac)?;
            let tag = self.tag(&mask, aad, data);
            mask.zeroize();
            Ok(tag)
        }

        fn open(
            &self,
            nonce: &[u8; IV_LEN],
            aad: &[u8],
            data: &mut [u8],
            tag: &[u8],
        ) -> Result<()> {
            let (ctr, mut mask) = self.start(nonce);
            let want = self.tag(&mask, aad, data);
            mask.zeroize();
            if !bool::from(want.ct_eq(tag)) {
                return Err(Error::Mac);
            }
            ctr.try_apply_keystream_partial(InOutBuf::from(data))
                .map_err(|_| Error::Mac)
        }
    }
}

enum Aead {
    Aes128(Box<Aes128Impl>),
    Aes256(Box<Aes256Impl>),
}

/// Key schedule, GHASH key (both zeroized on drop) and the nonce.
struct State {
    aead: Aead,
    name: &'static str,
    nonce: Zeroizing<[u8; IV_LEN]>,
}

impl State {
    fn new(kind: GcmKind, key: &[u8], iv: &[u8]) -> Result<Self> {
        let key_len = match kind {
            GcmKind::Aes128 => 16,
            GcmKind::Aes256 => 32,
        };
        let bad_key = Error::KeyLength {
            what: "cipher key",
            got: key.len(),
            expected: key_len,
        };
        let (aead, name) = match kind {
            GcmKind::Aes128 => (
                Aead::Aes128(Box::new(
                    Aes128Impl::new_from_slice(key).map_err(|_| bad_key)?,
                )),
                "aes128-gcm@openssh.com",
            ),
            GcmKind::Aes256 => (
                Aead::Aes256(Box::new(
                    Aes256Impl::new_from_slice(key).map_err(|_| bad_key)?,
                )),
                "aes256-gcm@openssh.com",
            ),
        };
        let nonce: [u8; IV_LEN] = iv.try_into().map_err(|_| Error::KeyLength {
            what: "cipher IV",
            got: iv.len(),
            expected: IV_LEN,
        })?;
        Ok(Self {
            aead,
            name,
            nonce: Zeroizing::new(nonce),
        })
    }

    /// Increments the invocation counter (the last 8 bytes of the nonce).
    fn next_nonce(&mut self) {
        if let Some((_, counter)) = self.nonce.split_first_chunk_mut::<4>()
            && let Some(counter) = counter.first_chunk_mut::<8>()
        {
            *counter = u64::from_be_bytes(*counter).wrapping_add(1).to_be_bytes();
        }
    }

    fn encrypt(&self, aad: &[u8], data: &mut [u8]) -> Result<[u8; TAG_LEN]> {
        match &self.aead {
            Aead::Aes128(a) => a.seal(&self.nonce, aad, data),
            Aead::Aes256(a) => a.seal(&self.nonce, aad, data),
        }
    }

    fn decrypt(&self, aad: &[u8], data: &mut [u8], tag: &[u8]) -> Result<()> {
        match &self.aead {
            Aead::Aes128(a) => a.open(&self.nonce, aad, data, tag),
            Aead::Aes256(a) => a.open(&self.nonce, aad, data, tag),
        }
    }
}

/// Outbound AES-GCM.
pub(crate) struct GcmSealer(State);

impl GcmSealer {
    pub(crate) fn new(kind: GcmKind, key: &[u8], iv: &[u8]) -> Result<Self> {
        State::new(kind, key, iv).map(Self)
    }
}

impl PacketSealer for GcmSealer {
    fn name(&self) -> &'static str {
        self.0.name
    }

    fn alignment(&self) -> Alignment {
        Alignment::new(16, false)
    }

    fn trailer_len(&self) -> usize {
        TAG_LEN
    }

    fn seal(&mut self, _seq: u32, buf: &mut BytesMut, packet: Range<usize>) -> Result<()> {
        check_sealable(buf, &packet, self.alignment())?;
        let bad = Error::BadPacketRange {
            start: packet.start,
            end: packet.end,
            buf_len: buf.len(),
        };
        let pkt = buf.get_mut(packet).ok_or(bad.clone())?;
        let (len, body) = pkt.split_first_chunk_mut::<4>().ok_or(bad)?;
        let tag = self.0.encrypt(len, body)?;
        self.0.next_nonce();
        buf.extend_from_slice(&tag);
        Ok(())
    }
}

/// Inbound AES-GCM.
pub(crate) struct GcmOpener {
    state: State,
    pending: Option<u32>,
}

impl GcmOpener {
    pub(crate) fn new(kind: GcmKind, key: &[u8], iv: &[u8]) -> Result<Self> {
        Ok(Self {
            state: State::new(kind, key, iv)?,
            pending: None,
        })
    }
}

impl PacketOpener for GcmOpener {
    fn name(&self) -> &'static str {
        self.state.name
    }

    fn alignment(&self) -> Alignment {
        Alignment::new(16, false)
    }

    fn trailer_len(&self) -> usize {
        TAG_LEN
    }

    fn length_bytes(&self) -> usize {
        4
    }

    fn open_length(&mut self, _seq: u32, first: &[u8]) -> Result<u32> {
        let len = u32::from_be_bytes(*first.first_chunk::<4>().ok_or(Error::OpenOutOfOrder)?);
        self.pending = Some(len);
        Ok(len)
    }

    fn open(&mut self, _seq: u32, packet: &mut [u8]) -> Result<Range<usize>> {
        let body = check_openable(packet, self.pending, TAG_LEN)?;
        self.pending = None;
        let (data, tag) = packet.split_at_mut(body);
        let (len, ct) = data
            .split_first_chunk_mut::<4>()
            .ok_or(Error::OpenOutOfOrder)?;
        self.state.decrypt(len, ct, tag)?;
        self.state.next_nonce();
        payload_range(packet, body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    const IV: &str = "cafebabefacedbaddecaf888";
    const P: &str = "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72\
                     1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39";
    const A: &str = "feedfacedeadbeeffeedfacedeadbeefabaddad2";

    /// McGrew & Viega, "The Galois/Counter Mode of Operation", test cases 4 and 16 (the
    /// NIST GCM validation vectors), through the same calls the sealer and opener make.
    fn check(kind: GcmKind, key: &str, c: &str, t: &str) {
        let mut st = State::new(kind, &h(key), &h(IV)).unwrap();
        let mut data = h(P);
        let tag = st.encrypt(&h(A), &mut data).unwrap();
        assert_eq!(hex::encode(&data), c);
        assert_eq!(hex::encode(tag), t);
        st.decrypt(&h(A), &mut data, &tag).unwrap();
        assert_eq!(data, h(P));
        let mut bad = tag;
        bad[15] ^= 1;
        assert_eq!(st.decrypt(&h(A), &mut data, &bad), Err(Error::Mac));
        // The nonce's invocation counter is the last 8 bytes, big-endian.
        st.next_nonce();
        assert_eq!(hex::encode(*st.nonce), "cafebabefacedbaddecaf889");
    }

    #[test]
    fn gcm_mcgrew_viega_test_cases() {
        check(
            GcmKind::Aes128,
            "feffe9928665731c6d6a8f9467308308",
            "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e\
             21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091",
            "5bc94fbc3221a5db94fae95ae7121a47",
        );
        check(
            GcmKind::Aes256,
            "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
            "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa\
             8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
            "76fc6ece0f4e1768cddf8853bb2d551b",
        );
    }

    /// whelk's AES-GCM (carry-less GHASH) and RustCrypto's `aes-gcm` give the same
    /// ciphertext and tag for random keys, nonces, AAD and every length up to 70 blocks
    /// (and packet sizes); each opens the other's output, and a flipped tag bit is refused
    /// with the data left as it was.
    #[cfg(all(
        target_arch = "x86_64",
        target_feature = "pclmulqdq",
        target_feature = "ssse3"
    ))]
    #[test]
    fn carryless_gcm_matches_rustcrypto_aes_gcm() {
        use aes_gcm::aead::KeyInit;
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let mut byte = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed.to_le_bytes()[0]
        };
        fn pair<A: GcmCipher, B: GcmCipher>(
            ours: &A,
            theirs: &B,
            nonce: &[u8; 12],
            aad: &[u8],
            pt: &[u8],
        ) {
            let (mut a, mut b) = (pt.to_vec(), pt.to_vec());
            let ta = ours.seal(nonce, aad, &mut a).unwrap();
            let tb = theirs.seal(nonce, aad, &mut b).unwrap();
            assert_eq!((&a, ta), (&b, tb), "length {}", pt.len());
            let mut bad = ta;
            bad[usize::from(ta[0]) % 16] ^= 0x10;
            assert_eq!(ours.open(nonce, aad, &mut a, &bad), Err(Error::Mac));
            assert_eq!(a, b, "a refused packet is left as it was");
            ours.open(nonce, aad, &mut a, &tb).unwrap();
            theirs.open(nonce, aad, &mut b, &ta).unwrap();
            assert_eq!((a.as_slice(), b.as_slice()), (pt, pt));
        }
        let lens = (0..=1120).chain([2100, 32_768, 35_000]);
        for len in lens {
            let nonce: [u8; 12] = core::array::from_fn(|_| byte());
            let aad: Vec<u8> = (0..usize::from(byte() % 24)).map(|_| byte()).collect();
            let pt: Vec<u8> = (0..len).map(|_| byte()).collect();
            if len % 2 == 0 {
                let key: [u8; 16] = core::array::from_fn(|_| byte());
                let ours = clmul::Gcm::<aes::Aes128>::new_from_slice(&key).unwrap();
                let theirs = aes_gcm::Aes128Gcm::new_from_slice(&key).unwrap();
                pair(&ours, &theirs, &nonce, &aad, &pt);
            } else {
                let key: [u8; 32] = core::array::from_fn(|_| byte());
                let ours = clmul::Gcm::<aes::Aes256>::new_from_slice(&key).unwrap();
                let theirs = aes_gcm::Aes256Gcm::new_from_slice(&key).unwrap();
                pair(&ours, &theirs, &nonce, &aad, &pt);
            }
        }
    }

    #[cfg(all(
        target_arch = "x86_64",
        target_feature = "pclmulqdq",
        target_feature = "ssse3"
    ))]
    #[test]
    fn carryless_gcm_state_zeroizes_on_drop() {
        fn zeroizes_on_drop<T: zeroize::ZeroizeOnDrop>() {}
        zeroizes_on_drop::<clmul::Gcm<aes::Aes128>>();
        zeroizes_on_drop::<clmul::Gcm<aes::Aes256>>();
    }

    #[test]
    fn invocation_counter_wraps_in_its_8_bytes() {
        let mut st = State::new(GcmKind::Aes128, &[0; 16], &h("01020304ffffffffffffffff")).unwrap();
        st.next_nonce();
        assert_eq!(hex::encode(*st.nonce), "010203040000000000000000");
    }
}
