//! Value parsers shared by the client and server option tables.

use std::time::Duration;

use crate::algorithms::AlgorithmList;
use crate::engine::Directive;
use crate::error::Error;
use crate::forward::parse_port;
use crate::units::{parse_bytes, parse_time};

/// A keyword value from a fixed table (case-insensitive), e.g. `yes`/`no`.
pub(crate) fn choice<T: Copy>(d: &Directive<'_>, table: &[(&str, T)]) -> Result<T, Error> {
    let arg = d.one()?;
    table
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(arg))
        .map(|(_, v)| *v)
        .ok_or_else(|| {
            let names: Vec<&str> = table.iter().map(|(n, _)| *n).collect();
            d.bad(arg, format!("expected one of {}", names.join(", ")))
        })
}

/// The client's boolean (`yes`, `no`, `true`, `false`).
pub(crate) const CLIENT_FLAG: &[(&str, bool)] = &[
    ("yes", true),
    ("no", false),
    ("true", true),
    ("false", false),
];

/// The server's boolean (only `yes` and `no`).
pub(crate) const SERVER_FLAG: &[(&str, bool)] = &[("yes", true), ("no", false)];

/// A time interval (`1w2d3h`, plain seconds).
pub(crate) fn time(d: &Directive<'_>) -> Result<Duration, Error> {
    let arg = d.one()?;
    parse_time(arg).map_err(|e| d.bad(arg, e.to_string()))
}

/// A non-negative `int` (OpenSSH `atoi_err`: 0..=`INT_MAX`).
pub(crate) fn int(d: &Directive<'_>) -> Result<u32, Error> {
    let arg = d.one()?;
    int_value(d, arg)
}

pub(crate) fn int_value(d: &Directive<'_>, arg: &str) -> Result<u32, Error> {
    if arg.is_empty() || !arg.bytes().all(|b| b.is_ascii_digit()) {
        return Err(d.bad(arg, "not a non-negative integer"));
    }
    arg.parse::<u32>()
        .ok()
        .filter(|&n| n <= 2_147_483_647)
        .ok_or_else(|| d.bad(arg, "integer too large"))
}

/// A TCP port 1..=65535.
pub(crate) fn port(d: &Directive<'_>) -> Result<u16, Error> {
    let arg = d.one()?;
    port_value(d, arg)
}

pub(crate) fn port_value(d: &Directive<'_>, arg: &str) -> Result<u16, Error> {
    match parse_port(arg) {
        Some(p) if p > 0 => Ok(p),
        _ => Err(d.bad(arg, "badly formatted port number")),
    }
}

/// A single-argument algorithm list.
pub(crate) fn algorithms(d: &Directive<'_>) -> Result<AlgorithmList, Error> {
    let arg = d.one()?;
    AlgorithmList::parse(arg).map_err(|e| d.bad(arg, e.to_string()))
}

/// A single non-empty string argument.
pub(crate) fn string(d: &Directive<'_>) -> Result<String, Error> {
    d.one().map(str::to_owned)
}

/// `RekeyLimit bytes [interval]`: `default` bytes is 0; `none` interval is
/// "not set" (`None`). Bytes must be 0 or at least 16.
pub(crate) fn rekey_limit(d: &Directive<'_>) -> Result<(u64, Option<Duration>), Error> {
    let arg = d.first()?;
    let bytes = if arg == "default" {
        0
    } else {
        let b = parse_bytes(arg).map_err(|e| d.bad(arg, e.to_string()))?;
        if b != 0 && b < 16 {
            return Err(d.bad(arg, "RekeyLimit too small"));
        }
        b
    };
    let interval = match d.args.get(1).map(String::as_str) {
        None | Some("none") => None,
        Some(t) => Some(parse_time(t).map_err(|e| d.bad(t, e.to_string()))?),
    };
    d.no_more(2)?;
    Ok((bytes, interval))
}

/// Sets `slot` if this is the first value seen and the line applies.
pub(crate) fn first<T>(slot: &mut Option<T>, active: bool, value: T) {
    if active && slot.is_none() {
        *slot = Some(value);
    }
}
