//! Per-source penalties (sshd 9.8's `PerSourcePenalties`): a source network whose
//! connections keep ending without authenticating accrues penalty time and is refused,
//! right after `accept` and before any handshake work, until the penalty expires. This
//! throttles key-exchange floods (DHEat, CVE-2002-20001) and password guessing from one
//! source.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// What a penalty table does when it holds its maximum number of sources (sshd's
/// `overflow`/`overflow6`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Overflow {
    /// New sources are not penalised until entries expire (sshd's `permissive`, the
    /// default).
    #[default]
    Permissive,
    /// Every new connection of that address family is refused while the table is full
    /// (sshd's `deny-all`).
    DenyAll,
}

/// sshd's `PerSourcePenalties`: how much penalty time a source network (grouped by
/// [`crate::ServerConfig::per_source_net_block`]) accrues for each connection that ends
/// without authenticating, and when it is refused. Penalties add up; once a source's
/// outstanding penalty reaches [`PerSourcePenalties::min`] its new connections are closed
/// unanswered until the penalty has run out. Defaults as sshd 9.8 (on).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PerSourcePenalties {
    /// Whether penalties are kept at all (default true; sshd's `PerSourcePenalties no`
    /// turns them off).
    pub enabled: bool,
    /// A connection that had an authentication attempt rejected and never authenticated
    /// (`authfail`, default 5 s).
    pub authfail: Duration,
    /// A connection that ended without any rejected attempt and without authenticating,
    /// e.g. a dropped key exchange (`noauth`, default 1 s).
    pub noauth: Duration,
    /// A connection closed because its login grace time ran out (`grace-exceeded`,
    /// default 10 s).
    pub grace_exceeded: Duration,
    /// The most penalty time a source can have outstanding (`max`, default 600 s).
    pub max: Duration,
    /// The outstanding penalty from which a source is refused (`min`, default 15 s).
    pub min: Duration,
    /// Most IPv4 source networks tracked (`max-sources4`, default 65536).
    pub max_sources4: usize,
    /// Most IPv6 source networks tracked (`max-sources6`, default 65536).
    pub max_sources6: usize,
    /// What a full IPv4 table does (`overflow`, default [`Overflow::Permissive`]).
    pub overflow: Overflow,
    /// What a full IPv6 table does (`overflow6`, default [`Overflow::Permissive`]).
    pub overflow6: Overflow,
    /// Networks (address, prefix length) never penalised (sshd's
    /// `PerSourcePenaltyExemptList`, default empty); see
    /// [`PerSourcePenalties::set_exempt_list`].
    pub exempt: Vec<(IpAddr, u8)>,
}

impl Default for PerSourcePenalties {
    fn default() -> Self {
        Self {
            enabled: true,
            authfail: Duration::from_secs(5),
            noauth: Duration::from_secs(1),
            grace_exceeded: Duration::from_secs(10),
            max: Duration::from_secs(600),
            min: Duration::from_secs(15),
            max_sources4: 65536,
            max_sources6: 65536,
            overflow: Overflow::Permissive,
            overflow6: Overflow::Permissive,
            exempt: Vec::new(),
        }
    }
}

impl PerSourcePenalties {
    /// No penalties (sshd's `PerSourcePenalties no`).
    #[must_use]
    pub fn disabled() -> Self {
        Self {
            enabled: false,
            ..Self::default()
        }
    }

    /// Applies sshd's `PerSourcePenalties` words (`yes`, `no`, or any of `authfail:5s`,
    /// `noauth:1`, `grace-exceeded:10s`, `crash:90s` (accepted, unused: a panicking
    /// handler is caught), `max:10m`, `min:15s`, `max-sources4:N`, `max-sources6:N`,
    /// `overflow:permissive|deny-all`, `overflow6:...`) on top of `self`.
    ///
    /// # Errors
    /// An unknown keyword or a bad value, described.
    pub fn apply(&mut self, words: &[&str]) -> Result<(), String> {
        for w in words {
            match w.to_ascii_lowercase().as_str() {
                "yes" => self.enabled = true,
                "no" => self.enabled = false,
                other => {
                    let (k, v) = other
                        .split_once(':')
                        .ok_or_else(|| format!("PerSourcePenalties: bad keyword {w:?}"))?;
                    self.enabled = true;
                    match k {
                        "authfail" => self.authfail = duration(v)?,
                        "noauth" => self.noauth = duration(v)?,
                        "grace-exceeded" => self.grace_exceeded = duration(v)?,
                        "crash" => {
                            duration(v)?;
                        }
                        "max" => self.max = duration(v)?,
                        "min" => self.min = duration(v)?,
                        "max-sources4" => self.max_sources4 = count(v)?,
                        "max-sources6" => self.max_sources6 = count(v)?,
                        "overflow" => self.overflow = overflow(v)?,
                        "overflow6" => self.overflow6 = overflow(v)?,
                        _ => return Err(format!("PerSourcePenalties: unknown keyword {w:?}")),
                    }
                }
            }
        }
        Ok(())
    }
}

impl PerSourcePenalties {
    /// Sets [`PerSourcePenalties::exempt`] from sshd's `PerSourcePenaltyExemptList`
    /// syntax: comma-separated addresses or `address/prefix` networks
    /// (`127.0.0.0/8,::1`).
    ///
    /// # Errors
    /// A bad address or prefix length, described.
    pub fn set_exempt_list(&mut self, list: &str) -> Result<(), String> {
        let mut out = Vec::new();
        for item in list.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let bad = || format!("PerSourcePenaltyExemptList: bad network {item:?}");
            let (addr, len) = match item.split_once('/') {
                Some((a, l)) => (a, Some(l)),
                None => (item, None),
            };
            let addr: IpAddr = addr.parse().map_err(|_| bad())?;
            let max = if addr.is_ipv4() { 32 } else { 128 };
            let len = match len {
                Some(l) => l.parse::<u8>().map_err(|_| bad())?,
                None => max,
            };
            if len > max {
                return Err(bad());
            }
            out.push((addr, len));
        }
        self.exempt = out;
        Ok(())
    }

    /// Whether `addr` is in an exempt network.
    pub(crate) fn is_exempt(&self, addr: IpAddr) -> bool {
        use super::limits::net_block;
        // IPv4-mapped IPv6 (a dual-stack listener) → IPv4.
        let addr = net_block(addr, (32, 128));
        self.exempt.iter().any(|&(net, len)| {
            net.is_ipv4() == addr.is_ipv4()
                && net_block(addr, (len, len)) == net_block(net, (len, len))
        })
    }
}

/// sshd's time format: `90`, `90s`, `10m`, `1h30m`, `1500ms`.
fn duration(v: &str) -> Result<Duration, String> {
    let bad = || format!("PerSourcePenalties: bad duration {v:?}");
    if let Some(ms) = v.strip_suffix("ms") {
        return ms.parse().map(Duration::from_millis).map_err(|_| bad());
    }
    let mut total = 0u64;
    let mut num = String::new();
    for c in v.chars() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        let mult = match c {
            's' | 'S' => 1,
            'm' | 'M' => 60,
            'h' | 'H' => 3600,
            'd' | 'D' => 86400,
            'w' | 'W' => 604_800,
            _ => return Err(bad()),
        };
        let n: u64 = num.parse().map_err(|_| bad())?;
        total = total.saturating_add(n.saturating_mul(mult));
        num.clear();
    }
    if !num.is_empty() {
        let n: u64 = num.parse().map_err(|_| bad())?;
        total = total.saturating_add(n);
    }
    if v.is_empty() {
        return Err(bad());
    }
    Ok(Duration::from_secs(total))
}

fn count(v: &str) -> Result<usize, String> {
    v.parse()
        .map_err(|_| format!("PerSourcePenalties: bad number {v:?}"))
}

fn overflow(v: &str) -> Result<Overflow, String> {
    match v {
        "permissive" => Ok(Overflow::Permissive),
        "deny-all" => Ok(Overflow::DenyAll),
        _ => Err(format!("PerSourcePenalties: bad overflow mode {v:?}")),
    }
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    expiry: Instant,
    active: bool,
}

#[derive(Debug, Default)]
struct Table {
    map: HashMap<IpAddr, Entry>,
    v4: usize,
    v6: usize,
    last_sweep: Option<Instant>,
}

impl Table {
    fn remove(&mut self, block: &IpAddr) {
        if self.map.remove(block).is_some() {
            match block {
                IpAddr::V4(_) => self.v4 = self.v4.saturating_sub(1),
                IpAddr::V6(_) => self.v6 = self.v6.saturating_sub(1),
            }
        }
    }

    /// Drops expired entries (at most once a second).
    fn sweep(&mut self, now: Instant) {
        if self
            .last_sweep
            .is_some_and(|t| now.saturating_duration_since(t) < Duration::from_secs(1))
        {
            return;
        }
        self.last_sweep = Some(now);
        self.map.retain(|_, e| e.expiry > now);
        self.v4 = self.map.keys().filter(|k| k.is_ipv4()).count();
        self.v6 = self.map.len().saturating_sub(self.v4);
    }
}

/// The penalty table of one server.
#[derive(Debug)]
pub(crate) struct Penalties {
    cfg: PerSourcePenalties,
    table: Mutex<Table>,
}

/// Why a connection ended unauthenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
enum Kind {
    NoAuth = 0,
    AuthFail = 1,
    Grace = 2,
    /// Authenticated: no penalty.
    None = 3,
}

impl Penalties {
    pub(crate) fn new(cfg: PerSourcePenalties) -> Self {
        Self {
            cfg,
            table: Mutex::new(Table::default()),
        }
    }

    fn full(&self, t: &Table, block: IpAddr) -> (bool, Overflow) {
        match block {
            IpAddr::V4(_) => (t.v4 >= self.cfg.max_sources4, self.cfg.overflow),
            IpAddr::V6(_) => (t.v6 >= self.cfg.max_sources6, self.cfg.overflow6),
        }
    }

    /// Whether a new connection from `block` is refused now.
    pub(crate) fn refuses(&self, block: IpAddr, now: Instant) -> bool {
        if !self.cfg.enabled {
            return false;
        }
        let mut t = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(e) = t.map.get(&block).copied() {
            if e.expiry <= now {
                t.remove(&block);
            } else if e.active {
                return true;
            }
        }
        let (full, overflow) = self.full(&t, block);
        if full && overflow == Overflow::DenyAll {
            t.sweep(now);
            let (full, _) = self.full(&t, block);
            return full;
        }
        false
    }

    /// Source networks with an outstanding penalty (refused or not yet).
    pub(crate) fn len(&self) -> usize {
        let t = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        t.map.values().filter(|e| e.expiry > now).count()
    }

    /// Whether `outstanding` penalty time refuses the source, with a slack of 1/16 of
    /// `min` (at most 1 s; sshd counts whole seconds), so that three quick `authfail`s of
    /// 5 s refuse although a few milliseconds passed between them.
    fn reaches_min(&self, outstanding: Duration) -> bool {
        let slack = (self.cfg.min / 16).min(Duration::from_secs(1));
        outstanding.saturating_add(slack) >= self.cfg.min
    }

    fn penalise(&self, block: IpAddr, kind: Kind, now: Instant) {
        let secs = match kind {
            Kind::NoAuth => self.cfg.noauth,
            Kind::AuthFail => self.cfg.authfail,
            Kind::Grace => self.cfg.grace_exceeded,
            Kind::None => return,
        };
        if !self.cfg.enabled || secs.is_zero() {
            return;
        }
        let mut t = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        let cap = now.checked_add(self.cfg.max).unwrap_or(now);
        if let Some(e) = t.map.get_mut(&block) {
            if e.expiry > now {
                let expiry = e.expiry.checked_add(secs).unwrap_or(cap).min(cap);
                e.expiry = expiry;
                if self.reaches_min(expiry.saturating_duration_since(now)) {
                    e.active = true;
                }
                return;
            }
            t.remove(&block);
        }
        if self.full(&t, block).0 {
            t.sweep(now);
            if self.full(&t, block).0 {
                // Permissive or deny-all: no new entry until some expire.
                return;
            }
        }
        let expiry = now.checked_add(secs.min(self.cfg.max)).unwrap_or(cap);
        let active = self.reaches_min(expiry.saturating_duration_since(now));
        t.map.insert(block, Entry { expiry, active });
        match block {
            IpAddr::V4(_) => t.v4 += 1,
            IpAddr::V6(_) => t.v6 += 1,
        }
    }
}

/// One unauthenticated connection's penalty, applied when the last handle goes unless
/// it authenticated.
#[derive(Debug)]
pub(crate) struct Ticket {
    table: Arc<Penalties>,
    block: IpAddr,
    kind: AtomicU8,
}

impl Ticket {
    pub(crate) fn new(table: Arc<Penalties>, block: IpAddr) -> Self {
        Self {
            table,
            block,
            kind: AtomicU8::new(Kind::NoAuth as u8),
        }
    }

    /// An authentication attempt was rejected.
    pub(crate) fn auth_failed(&self) {
        let _ = self.kind.compare_exchange(
            Kind::NoAuth as u8,
            Kind::AuthFail as u8,
            Ordering::SeqCst,
            Ordering::SeqCst,
        );
    }

    /// The login grace time ran out.
    pub(crate) fn grace_exceeded(&self) {
        let _ = self
            .kind
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |k| {
                (k != Kind::None as u8).then_some(Kind::Grace as u8)
            });
    }

    /// The connection authenticated: no penalty.
    pub(crate) fn authenticated(&self) {
        self.kind.store(Kind::None as u8, Ordering::SeqCst);
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let kind = match self.kind.load(Ordering::SeqCst) {
            0 => Kind::NoAuth,
            1 => Kind::AuthFail,
            2 => Kind::Grace,
            _ => Kind::None,
        };
        self.table.penalise(self.block, kind, Instant::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> PerSourcePenalties {
        PerSourcePenalties::default()
    }

    #[test]
    fn accrues_until_min_then_refuses_until_expiry() {
        let p = Penalties::new(cfg());
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        let t0 = Instant::now();
        for _ in 0..14 {
            p.penalise(a, Kind::NoAuth, t0);
            assert!(!p.refuses(a, t0));
        }
        p.penalise(a, Kind::NoAuth, t0);
        assert!(p.refuses(a, t0));
        assert!(!p.refuses(b, t0));
        assert!(p.refuses(a, t0 + Duration::from_secs(14)));
        assert!(!p.refuses(a, t0 + Duration::from_secs(15)));
        // authfail: 3 x 5 s.
        for _ in 0..3 {
            p.penalise(b, Kind::AuthFail, t0);
        }
        assert!(p.refuses(b, t0));
        // An authenticated connection costs nothing.
        let c: IpAddr = "192.0.2.3".parse().unwrap();
        for _ in 0..100 {
            p.penalise(c, Kind::None, t0);
        }
        assert!(!p.refuses(c, t0));
    }

    #[test]
    fn capped_at_max() {
        let p = Penalties::new(cfg());
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let t0 = Instant::now();
        for _ in 0..1000 {
            p.penalise(a, Kind::Grace, t0);
        }
        assert!(p.refuses(a, t0 + Duration::from_secs(599)));
        assert!(!p.refuses(a, t0 + Duration::from_secs(600)));
    }

    #[test]
    fn bounded_table_overflow() {
        let mut c = cfg();
        c.max_sources4 = 2;
        c.min = Duration::from_secs(1);
        let p = Penalties::new(c.clone());
        let t0 = Instant::now();
        let ip = |n: u8| IpAddr::from([192, 0, 2, n]);
        p.penalise(ip(1), Kind::NoAuth, t0);
        p.penalise(ip(2), Kind::NoAuth, t0);
        p.penalise(ip(3), Kind::NoAuth, t0);
        assert!(p.refuses(ip(1), t0) && p.refuses(ip(2), t0));
        // Permissive: the third is not tracked, new sources still connect.
        assert!(!p.refuses(ip(3), t0));
        assert_eq!(p.table.lock().unwrap().map.len(), 2);
        c.overflow = Overflow::DenyAll;
        let p = Penalties::new(c);
        p.penalise(ip(1), Kind::NoAuth, t0);
        p.penalise(ip(2), Kind::NoAuth, t0);
        assert!(p.refuses(ip(9), t0));
        // IPv6 has its own table.
        assert!(!p.refuses("2001:db8::1".parse().unwrap(), t0));
        // Once they expire, the table has room again.
        assert!(!p.refuses(ip(9), t0 + Duration::from_secs(2)));
    }

    #[test]
    fn ticket_kinds() {
        let p = Arc::new(Penalties::new(cfg()));
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        for _ in 0..3 {
            let t = Ticket::new(p.clone(), a);
            t.auth_failed();
        }
        assert!(p.refuses(a, Instant::now()));
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        for _ in 0..20 {
            let t = Ticket::new(p.clone(), b);
            t.auth_failed();
            t.authenticated();
        }
        assert!(!p.refuses(b, Instant::now()));
        let d = Penalties::new(PerSourcePenalties::disabled());
        for _ in 0..100 {
            d.penalise(a, Kind::AuthFail, Instant::now());
        }
        assert!(!d.refuses(a, Instant::now()));
    }

    #[test]
    fn exempt_networks() {
        let mut c = PerSourcePenalties::default();
        c.set_exempt_list("127.0.0.0/8, 2001:db8::/32,192.0.2.9")
            .unwrap();
        assert!(c.is_exempt("127.1.2.3".parse().unwrap()));
        assert!(c.is_exempt("192.0.2.9".parse().unwrap()));
        assert!(!c.is_exempt("192.0.2.8".parse().unwrap()));
        assert!(c.is_exempt("2001:db8:1::5".parse().unwrap()));
        assert!(!c.is_exempt("2001:db9::5".parse().unwrap()));
        assert!(c.is_exempt("::ffff:127.0.0.1".parse().unwrap()));
        assert!(c.set_exempt_list("10.0.0.0/33").is_err());
        assert!(c.set_exempt_list("nonsense").is_err());
    }

    #[test]
    fn parses_sshd_words() {
        let mut c = PerSourcePenalties::default();
        c.apply(&[
            "authfail:2s",
            "noauth:500ms",
            "max:10m",
            "min:3",
            "overflow:deny-all",
        ])
        .unwrap();
        assert_eq!(c.authfail, Duration::from_secs(2));
        assert_eq!(c.noauth, Duration::from_millis(500));
        assert_eq!(c.max, Duration::from_secs(600));
        assert_eq!(c.min, Duration::from_secs(3));
        assert_eq!(c.overflow, Overflow::DenyAll);
        c.apply(&["no"]).unwrap();
        assert!(!c.enabled);
        assert!(c.apply(&["bogus:1"]).is_err());
        assert!(c.apply(&["noauth:x"]).is_err());
        assert_eq!(duration("1h30m").unwrap(), Duration::from_secs(5400));
    }
}
