//! Diffie-Hellman group exchange (RFC 4419): the client's size limits, the server's group
//! choice, and OpenSSH's `moduli` file format.

use alloc::vec::Vec;

use rand_core::CryptoRng;

use crate::dh::{DhGroup, GEX_MAX_BITS, GEX_MIN_BITS, Group, bit_len};
use crate::error::{Error, Result};

/// The sizes a client asks for in `SSH_MSG_KEX_DH_GEX_REQUEST`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GexRequest {
    /// Smallest acceptable modulus, in bits.
    pub min: u32,
    /// Preferred modulus size.
    pub n: u32,
    /// Largest acceptable modulus.
    pub max: u32,
}

impl Default for GexRequest {
    /// 2048 / 3072 / 8192: OpenSSH's limits, with the size it prefers for 128-bit keys.
    fn default() -> Self {
        Self {
            min: GEX_MIN_BITS,
            n: 3072,
            max: GEX_MAX_BITS,
        }
    }
}

impl GexRequest {
    /// A request, checked: `2048 <= min <= n <= max <= 8192` (catalog K13: groups below 2048
    /// bits are refused).
    pub fn new(min: u32, n: u32, max: u32) -> Result<Self> {
        if min < GEX_MIN_BITS {
            return Err(Error::GroupExchange("minimum group size below 2048 bits"));
        }
        if max > GEX_MAX_BITS {
            return Err(Error::GroupExchange("maximum group size above 8192 bits"));
        }
        if !(min <= n && n <= max) {
            return Err(Error::GroupExchange("need min <= n <= max"));
        }
        Ok(Self { min, n, max })
    }

    /// The preferred size for keys of `bits` bits of security, as OpenSSH's
    /// `dh_estimate`: 2048 up to 112 bits, 3072 up to 128, 7680 up to 192, else 8192.
    #[must_use]
    pub fn for_security_bits(bits: u32) -> Self {
        let n = match bits {
            0..=112 => 2048,
            113..=128 => 3072,
            129..=192 => 7680,
            _ => 8192,
        };
        Self {
            min: GEX_MIN_BITS,
            n,
            max: GEX_MAX_BITS,
        }
    }

    /// Client check of the server's group: its size must lie in `[min, max]`.
    pub(crate) fn check_group(&self, group: &DhGroup) -> Result<()> {
        let bits = group.bits();
        if bits < self.min.max(GEX_MIN_BITS) || bits > self.max {
            return Err(Error::GroupExchange(
                "server's group is outside the requested size range",
            ));
        }
        Ok(())
    }

    /// Server side: OpenSSH's clamping of a client request to `[DH_GRP_MIN, DH_GRP_MAX]`
    /// (kexgexs.c), then the sanity check `min <= n <= max`.
    pub fn clamp_request(min: u32, n: u32, max: u32) -> Result<Self> {
        let min = min.max(GEX_MIN_BITS);
        let max = max.min(GEX_MAX_BITS);
        let n = n.clamp(GEX_MIN_BITS, GEX_MAX_BITS);
        if max < min || n < min || max < n {
            return Err(Error::GroupExchange("bad DH_GEX_REQUEST parameters"));
        }
        Ok(Self { min, n, max })
    }
}

/// The groups a server chooses from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GexGroups {
    groups: Vec<DhGroup>,
}

impl Default for GexGroups {
    fn default() -> Self {
        Self::builtin()
    }
}

/// The `moduli` type of safe primes (`MODULI_TYPE_SAFE`).
const MODULI_TYPE_SAFE: u32 = 2;
/// The `moduli` test flag for "composite" (`MODULI_TESTS_COMPOSITE`).
const MODULI_TESTS_COMPOSITE: u32 = 0x01;

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Big-endian bytes of a hex number (odd digit counts allowed).
fn parse_hex(s: &str) -> Option<Vec<u8>> {
    let digits = s.as_bytes();
    if digits.is_empty() {
        return None;
    }
    let mut out = Vec::with_capacity(digits.len().div_ceil(2));
    let (head, rest) = digits.split_at(digits.len() % 2);
    if let Some(&c) = head.first() {
        out.push(hex_value(c)?);
    }
    for pair in rest.chunks_exact(2) {
        if let [hi, lo] = pair {
            out.push((hex_value(*hi)? << 4) | hex_value(*lo)?);
        }
    }
    Some(out)
}

impl GexGroups {
    /// The built-in groups: RFC 3526 groups 14, 16 and 18 (2048, 4096, 8192 bits).
    #[must_use]
    pub fn builtin() -> Self {
        Self {
            groups: [Group::Modp2048, Group::Modp4096, Group::Modp8192]
                .into_iter()
                .map(Group::dh_group)
                .collect(),
        }
    }

    /// The groups of an OpenSSH `moduli` file (moduli(5)): per line `time type tests tries
    /// size generator modulus`, where `size` is the modulus size in bits minus one and the
    /// generator and modulus are hex. As OpenSSH's `parse_prime`, lines that are not safe
    /// primes (type 2), are marked composite, were never tested, or have zero tries are
    /// skipped; comments (`#`) and blank lines too. A malformed line is an error naming it.
    /// An empty result is an error as well.
    pub fn from_moduli(text: &str) -> Result<Self> {
        let mut groups = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = i.saturating_add(1);
            let bad = |why| Error::Moduli { line, why };
            let content = raw.split('#').next().unwrap_or_default().trim();
            if content.is_empty() {
                continue;
            }
            let fields: Vec<&str> = content.split_ascii_whitespace().collect();
            let [time, kind, tests, tries, size, generator, modulus] = fields.as_slice() else {
                return Err(bad("expected 7 fields"));
            };
            if time.is_empty() || !time.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad("bad time field"));
            }
            let num = |s: &str| s.parse::<u32>().map_err(|_| bad("bad number"));
            let (kind, tests, tries, size) = (num(kind)?, num(tests)?, num(tries)?, num(size)?);
            if size > 64 * 1024 {
                return Err(bad("size too large"));
            }
            if kind != MODULI_TYPE_SAFE
                || tests & MODULI_TESTS_COMPOSITE != 0
                || tests & !MODULI_TESTS_COMPOSITE == 0
                || tries == 0
            {
                continue;
            }
            let g = parse_hex(generator).ok_or(bad("bad generator"))?;
            let p = parse_hex(modulus).ok_or(bad("bad modulus"))?;
            if bit_len(&p) != size.saturating_add(1) {
                return Err(bad("modulus size does not match the size field"));
            }
            let group = DhGroup::new(&p, &g).map_err(|_| bad("invalid group"))?;
            groups.push(group);
        }
        if groups.is_empty() {
            return Err(Error::Moduli {
                line: 0,
                why: "no usable groups",
            });
        }
        Ok(Self { groups })
    }

    /// The groups.
    #[must_use]
    pub fn groups(&self) -> &[DhGroup] {
        &self.groups
    }

    /// OpenSSH's `choose_dh`: among groups of size in `[min, max]`, the smallest one at
    /// least `n` bits (else the largest one below `n`), picked at random among equals. If
    /// none fits, the built-in groups are tried the same way (OpenSSH falls back to its
    /// built-in groups too).
    pub fn choose<R: CryptoRng + ?Sized>(&self, req: &GexRequest, rng: &mut R) -> Result<DhGroup> {
        if let Some(g) = choose_from(&self.groups, req, rng) {
            return Ok(g);
        }
        choose_from(Self::builtin().groups(), req, rng)
            .ok_or(Error::GroupExchange("no group of the requested size"))
    }
}

fn choose_from<R: CryptoRng + ?Sized>(
    groups: &[DhGroup],
    req: &GexRequest,
    rng: &mut R,
) -> Option<DhGroup> {
    let mut best = 0u32;
    for g in groups {
        let size = g.bits();
        if size < req.min || size > req.max {
            continue;
        }
        if (size > req.n && size < best) || (size > best && best < req.n) {
            best = size;
        }
    }
    if best == 0 {
        return None;
    }
    let candidates: Vec<&DhGroup> = groups.iter().filter(|g| g.bits() == best).collect();
    let count = u32::try_from(candidates.len()).ok()?;
    let mut b = [0u8; 4];
    rng.fill_bytes(&mut b);
    let idx = usize::try_from(u32::from_be_bytes(b) % count.max(1)).ok()?;
    candidates.get(idx).map(|g| (*g).clone())
}
