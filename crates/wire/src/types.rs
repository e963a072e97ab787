//! RFC 4251 §5 data types: `byte`, `boolean`, `uint32`, `uint64`, `string`, `mpint` and
//! `name-list`.
//!
//! Decoding is a grammar of `nom` parsers over a complete payload (a framed packet is always
//! whole), wrapped by [`Reader`], which turns borrowed sub-slices into [`Bytes`] slices of the
//! packet buffer (a reference-count increment, never a copy) and nom's errors into typed
//! [`Error`]s. Encoding goes through [`PutSsh`], implemented for every [`BufMut`].

use core::fmt;

use bytes::{BufMut, Bytes};
use nom::Parser;
use nom::number::complete::{be_u8, be_u32, be_u64};

use crate::error::{Error, NameRule, Result};

/// The longest name allowed in a name-list (RFC 4251 §6).
pub const MAX_NAME_LEN: usize = 64;

/// The nom grammar of the data types, over a complete input.
pub mod grammar {
    use super::{IResult, Parser, be_u32};

    /// `string`: a uint32 length followed by that many bytes.
    pub fn string(i: &[u8]) -> IResult<'_, &[u8]> {
        nom::multi::length_data(be_u32).parse_complete(i)
    }

    /// `uint32`.
    pub fn uint32(i: &[u8]) -> IResult<'_, u32> {
        be_u32(i)
    }
}

type IResult<'a, T> = nom::IResult<&'a [u8], T, ()>;

/// A cursor over one complete message payload.
///
/// Every read checks the remaining length before it touches the input, so a declared length
/// can never cause an allocation or a read past the end. [`Reader::finish`] rejects trailing
/// bytes.
#[derive(Debug)]
pub struct Reader<'a> {
    buf: &'a Bytes,
    rest: &'a [u8],
    what: &'static str,
}

impl<'a> Reader<'a> {
    /// Reads `buf`, naming errors after `what` (a message or structure name).
    #[must_use]
    pub fn new(buf: &'a Bytes, what: &'static str) -> Self {
        Self {
            buf,
            rest: buf.as_ref(),
            what,
        }
    }

    /// How many bytes are left.
    #[must_use]
    pub fn remaining(&self) -> usize {
        self.rest.len()
    }

    fn run<T>(&mut self, p: impl Fn(&'a [u8]) -> IResult<'a, T>) -> Result<T> {
        match p(self.rest) {
            Ok((rest, v)) => {
                self.rest = rest;
                Ok(v)
            }
            Err(_) => Err(Error::Truncated { what: self.what }),
        }
    }

    /// `byte`.
    pub fn u8(&mut self) -> Result<u8> {
        self.run(be_u8)
    }

    /// `boolean`: any non-zero byte is TRUE (RFC 4251 §5).
    pub fn bool(&mut self) -> Result<bool> {
        Ok(self.u8()? != 0)
    }

    /// `uint32`.
    pub fn u32(&mut self) -> Result<u32> {
        self.run(be_u32)
    }

    /// `uint64`.
    pub fn u64(&mut self) -> Result<u64> {
        self.run(be_u64)
    }

    /// `byte[N]`.
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let (head, rest) = self
            .rest
            .split_first_chunk::<N>()
            .ok_or(Error::Truncated { what: self.what })?;
        self.rest = rest;
        Ok(*head)
    }

    /// `string`, borrowed from the input.
    pub fn string_slice(&mut self) -> Result<&'a [u8]> {
        self.run(grammar::string)
    }

    /// `string`, as a zero-copy slice of the payload buffer.
    pub fn string(&mut self) -> Result<Bytes> {
        let s = self.string_slice()?;
        Ok(self.buf.slice_ref(s))
    }

    /// `string` holding text (UTF-8 by convention; not checked here).
    pub fn text(&mut self) -> Result<Text> {
        self.string().map(Text)
    }

    /// `name-list`, validated by the rules of RFC 4251 §5.
    pub fn name_list(&mut self) -> Result<NameList> {
        let raw = self.string()?;
        NameList::validate(&raw).map_err(|rule| Error::InvalidNameList {
            what: self.what,
            rule,
        })?;
        Ok(NameList(raw))
    }

    /// `mpint`, checked to be minimally encoded.
    pub fn mpint(&mut self) -> Result<MpInt> {
        let raw = self.string()?;
        if !MpInt::is_canonical(&raw) {
            return Err(Error::NonCanonicalMpint { what: self.what });
        }
        Ok(MpInt(raw))
    }

    /// A `uint32` count of elements that each take at least `min_size` bytes; rejects counts
    /// the remaining input cannot hold, so callers may allocate for the count.
    pub fn count(&mut self, min_size: usize) -> Result<usize> {
        let count = self.u32()?;
        let n = usize::try_from(count).map_err(|_| Error::CountTooLarge {
            what: self.what,
            count,
        })?;
        if n.saturating_mul(min_size.max(1)) > self.rest.len() {
            return Err(Error::CountTooLarge {
                what: self.what,
                count,
            });
        }
        Ok(n)
    }

    /// A zero-copy `Bytes` for a slice previously borrowed from this reader.
    #[must_use]
    pub(crate) fn slice_of(&self, s: &'a [u8]) -> Bytes {
        self.buf.slice_ref(s)
    }

    /// Everything that is left, as a zero-copy slice.
    pub fn rest(&mut self) -> Bytes {
        let s = core::mem::take(&mut self.rest);
        self.buf.slice_ref(s)
    }

    /// Ends the read; trailing bytes are an error.
    pub fn finish(self) -> Result<()> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(Error::TrailingData {
                what: self.what,
                extra: self.rest.len(),
            })
        }
    }
}

/// Length of a value encoded as an SSH `string` (4-byte length prefix + contents).
#[must_use]
pub const fn string_len(contents: usize) -> usize {
    4 + contents
}

fn len_u32(len: usize) -> u32 {
    // Callers check the total encoded length against u32::MAX before encoding (see
    // `Message::encode`), so this never saturates for a well-formed message.
    u32::try_from(len).unwrap_or(u32::MAX)
}

/// Writing the RFC 4251 §5 data types into any [`BufMut`].
pub trait PutSsh: BufMut {
    /// `boolean`, written as 0 or 1.
    fn put_ssh_bool(&mut self, v: bool) {
        self.put_u8(u8::from(v));
    }
    /// `string`.
    fn put_ssh_string(&mut self, v: &[u8]) {
        self.put_u32(len_u32(v.len()));
        self.put_slice(v);
    }
}

impl<B: BufMut + ?Sized> PutSsh for B {}

/// A `string` holding text: names, user names, descriptions, commands.
///
/// RFC 4251 §5 says text is UTF-8 (ISO-10646) where it is text at all; peers do not always
/// comply, so decoding keeps the bytes as they came and [`Text::to_str`] checks on demand.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Text(pub Bytes);

impl Text {
    /// The raw bytes.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The text, if it is valid UTF-8.
    pub fn to_str(&self) -> core::result::Result<&str, core::str::Utf8Error> {
        core::str::from_utf8(&self.0)
    }

    /// The text with invalid UTF-8 sequences replaced.
    #[must_use]
    pub fn to_string_lossy(&self) -> alloc::borrow::Cow<'_, str> {
        alloc::string::String::from_utf8_lossy(&self.0)
    }

    /// Whether the text is empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Length in bytes.
    #[must_use]
    pub fn len(&self) -> usize {
        self.0.len()
    }
}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.to_string_lossy(), f)
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.to_string_lossy(), f)
    }
}

impl From<&'static str> for Text {
    fn from(s: &'static str) -> Self {
        Self(Bytes::from_static(s.as_bytes()))
    }
}

impl From<alloc::string::String> for Text {
    fn from(s: alloc::string::String) -> Self {
        Self(Bytes::from(s))
    }
}

impl From<Bytes> for Text {
    fn from(b: Bytes) -> Self {
        Self(b)
    }
}

impl PartialEq<str> for Text {
    fn eq(&self, other: &str) -> bool {
        self.0 == other.as_bytes()
    }
}

impl PartialEq<&str> for Text {
    fn eq(&self, other: &&str) -> bool {
        self.0 == other.as_bytes()
    }
}

/// A `name-list`: comma-separated names, each non-empty, at most 64 characters of printable
/// US-ASCII without commas or spaces (RFC 4251 §5, RFC 4250 §4.6.1).
///
/// Kept as the bytes of the wire form (validated on construction), so decoding allocates
/// nothing and re-encoding is exact.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct NameList(Bytes);

impl NameList {
    fn validate(raw: &[u8]) -> core::result::Result<(), NameRule> {
        if raw.is_empty() {
            return Ok(());
        }
        for name in raw.split(|&b| b == b',') {
            if name.is_empty() {
                return Err(NameRule::Empty);
            }
            if name.len() > MAX_NAME_LEN {
                return Err(NameRule::TooLong);
            }
            if !name.iter().all(|b| (0x21..=0x7e).contains(b)) {
                return Err(NameRule::NotPrintable);
            }
        }
        Ok(())
    }

    /// The empty list.
    #[must_use]
    pub const fn empty() -> Self {
        Self(Bytes::new())
    }

    /// Builds a list from names, checking each.
    pub fn from_names<I, S>(names: I) -> core::result::Result<Self, NameRule>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut out = alloc::vec::Vec::new();
        for (i, name) in names.into_iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            let name = name.as_ref().as_bytes();
            if name.is_empty() {
                return Err(NameRule::Empty);
            }
            out.extend_from_slice(name);
        }
        Self::validate(&out)?;
        Ok(Self(Bytes::from(out)))
    }

    /// Parses the comma-separated form, checking each name.
    pub fn parse(s: &str) -> core::result::Result<Self, NameRule> {
        Self::validate(s.as_bytes())?;
        Ok(Self(Bytes::copy_from_slice(s.as_bytes())))
    }

    /// The names, in order.
    pub fn iter(&self) -> impl Iterator<Item = &str> + '_ {
        let s = self.as_str();
        s.split(',').filter(|n| !n.is_empty())
    }

    /// The wire form (`a,b,c`).
    #[must_use]
    pub fn as_str(&self) -> &str {
        // Validated as printable ASCII on construction.
        core::str::from_utf8(&self.0).unwrap_or_default()
    }

    /// Whether `name` is in the list.
    #[must_use]
    pub fn contains(&self, name: &str) -> bool {
        self.iter().any(|n| n == name)
    }

    /// Number of names.
    #[must_use]
    pub fn len(&self) -> usize {
        self.iter().count()
    }

    /// Whether the list has no names.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The first name of `self` (the client's list, in preference order) that `other` (the
    /// server's) also has: the negotiation rule of RFC 4253 §7.1.
    #[must_use]
    pub fn first_match<'s>(&'s self, other: &Self) -> Option<&'s str> {
        self.iter().find(|n| other.contains(n))
    }
}

impl fmt::Debug for NameList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl fmt::Display for NameList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An `mpint`: a two's-complement big-endian integer with no unnecessary leading bytes
/// (RFC 4251 §5). Kept in its wire form.
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct MpInt(Bytes);

impl MpInt {
    fn is_canonical(raw: &[u8]) -> bool {
        match raw {
            // Zero is the empty string (RFC 4251 §5), never a single zero byte.
            [0x00] => false,
            [] | [_] => true,
            // A leading 0x00 is only allowed to keep the next byte's top bit from reading
            // as a sign; a leading 0xff only to keep a negative number negative.
            [0x00, next, ..] => next & 0x80 != 0,
            [0xff, next, ..] => next & 0x80 == 0,
            _ => true,
        }
    }

    /// Zero.
    #[must_use]
    pub const fn zero() -> Self {
        Self(Bytes::new())
    }

    /// The non-negative integer whose big-endian magnitude is `be` (leading zeros allowed).
    #[must_use]
    pub fn from_unsigned_be(be: &[u8]) -> Self {
        let start = be.iter().position(|&b| b != 0).unwrap_or(be.len());
        let digits = be.get(start..).unwrap_or_default();
        match digits.first() {
            None => Self::zero(),
            Some(&top) if top & 0x80 != 0 => {
                let mut v = alloc::vec::Vec::with_capacity(digits.len() + 1);
                v.push(0);
                v.extend_from_slice(digits);
                Self(Bytes::from(v))
            }
            Some(_) => Self(Bytes::copy_from_slice(digits)),
        }
    }

    /// Wraps a wire-form value, checking that it is minimally encoded.
    pub fn from_wire(raw: Bytes) -> Result<Self> {
        if Self::is_canonical(&raw) {
            Ok(Self(raw))
        } else {
            Err(Error::NonCanonicalMpint { what: "mpint" })
        }
    }

    /// The wire form (two's complement, big-endian, minimal).
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Whether the value is negative.
    #[must_use]
    pub fn is_negative(&self) -> bool {
        self.0.first().is_some_and(|b| b & 0x80 != 0)
    }

    /// Whether the value is zero.
    #[must_use]
    pub fn is_zero(&self) -> bool {
        self.0.is_empty()
    }

    /// The big-endian magnitude of a non-negative value (no leading zero byte), or `None` if
    /// the value is negative.
    #[must_use]
    pub fn unsigned_be(&self) -> Option<&[u8]> {
        match self.0.as_ref() {
            [0x00, rest @ ..] => Some(rest),
            _ if self.is_negative() => None,
            all => Some(all),
        }
    }
}

impl fmt::Debug for MpInt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MpInt(")?;
        for b in self.0.iter() {
            write!(f, "{b:02x}")?;
        }
        write!(f, ")")
    }
}

/// A value with an RFC 4251 §5 encoding, used by the message tables.
pub(crate) trait Field: Sized {
    fn read(r: &mut Reader<'_>) -> Result<Self>;
    fn len(&self) -> usize;
    fn write<B: BufMut + ?Sized>(&self, out: &mut B);
}

impl Field for u8 {
    fn read(r: &mut Reader<'_>) -> Result<Self> {
        r.u8()
    }
    fn len(&self) -> usize {
        1
    }
    fn write<B: BufMut + ?Sized>(&self, out: &mut B) {
        out.put_u8(*self);
    }
}

impl Field for bool {
    fn read(r: &mut Reader<'_>) -> Result<Self> {
        r.bool()
    }
    fn len(&self) -> usize {
        1
    }
    fn write<B: BufMut + ?Sized>(&self, out: &mut B) {
        out.put_ssh_bool(*self);
    }
}

impl Field for u32 {
    fn read(r: &mut Reader<'_>) -> Result<Self> {
        r.u32()
    }
    fn len(&self) -> usize {
        4
    }
    fn write<B: BufMut + ?Sized>(&self, out: &mut B) {
        out.put_u32(*self);
    }
}

impl Field for u64 {
    fn read(r: &mut Reader<'_>) -> Result<Self> {
        r.u64()
    }
    fn len(&self) -> usize {
        8
    }
    fn write<B: BufMut + ?Sized>(&self, out: &mut B) {
        out.put_u64(*self);
    }
}

impl<const N: usize> Field for [u8; N] {
    fn read(r: &mut Reader<'_>) -> Result<Self> {
        r.array()
    }
    fn len(&self) -> usize {
        N
    }
    fn write<B: BufMut + ?Sized>(&self, out: &mut B) {
        out.put_slice(self);
    }
}

impl Field for Bytes {
    fn read(r: &mut Reader<'_>) -> Result<Self> {
        r.string()
    }
    fn len(&self) -> usize {
        string_len(self.len())
    }
    fn write<B: BufMut + ?Sized>(&self, out: &mut B) {
        out.put_ssh_string(self);
    }
}

impl Field for Text {
    fn read(r: &mut Reader<'_>) -> Result<Self> {
        r.text()
    }
    fn len(&self) -> usize {
        string_len(self.0.len())
    }
    fn write<B: BufMut + ?Sized>(&self, out: &mut B) {
        out.put_ssh_string(&self.0);
    }
}

impl Field for NameList {
    fn read(r: &mut Reader<'_>) -> Result<Self> {
        r.name_list()
    }
    fn len(&self) -> usize {
        string_len(self.0.len())
    }
    fn write<B: BufMut + ?Sized>(&self, out: &mut B) {
        out.put_ssh_string(&self.0);
    }
}

impl Field for MpInt {
    fn read(r: &mut Reader<'_>) -> Result<Self> {
        r.mpint()
    }
    fn len(&self) -> usize {
        string_len(self.0.len())
    }
    fn write<B: BufMut + ?Sized>(&self, out: &mut B) {
        out.put_ssh_string(&self.0);
    }
}
