//! Connection limits: sshd's `MaxStartups` (random early drop of unauthenticated
//! connections) and a cap on all connections.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// sshd's `MaxStartups start:rate:full`: with `start` or more connections still
/// unauthenticated, a new one is refused with probability `rate`% rising linearly to 100%
/// at `full`. Default `10:30:100`, as sshd.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaxStartups {
    /// Unauthenticated connections accepted before random early drop starts.
    pub start: usize,
    /// The drop probability (percent) at `start`.
    pub rate: u32,
    /// Unauthenticated connections at which every new one is refused.
    pub full: usize,
}

impl Default for MaxStartups {
    fn default() -> Self {
        Self {
            start: 10,
            rate: 30,
            full: 100,
        }
    }
}

impl MaxStartups {
    /// A hard limit without random drop (`MaxStartups n`).
    #[must_use]
    pub fn hard(n: usize) -> Self {
        Self {
            start: n,
            rate: 100,
            full: n,
        }
    }

    /// The drop probability in percent with `unauthenticated` connections open (sshd's
    /// `should_drop_connection`).
    #[must_use]
    pub fn drop_percent(&self, unauthenticated: usize) -> u32 {
        if unauthenticated >= self.full {
            return 100;
        }
        if unauthenticated < self.start {
            return 0;
        }
        // start <= n < full, so full > start.
        let span = self.full.saturating_sub(self.start).max(1);
        let over = unauthenticated.saturating_sub(self.start);
        let rate = u64::from(self.rate.min(100));
        let p = (100 - rate) * u64::try_from(over).unwrap_or(u64::MAX)
            / u64::try_from(span).unwrap_or(u64::MAX)
            + rate;
        u32::try_from(p.min(100)).unwrap_or(100)
    }

    /// Whether to drop a new connection; `roll` is uniform in `0..100`.
    #[must_use]
    pub(crate) fn should_drop(&self, unauthenticated: usize, roll: u32) -> bool {
        roll < self.drop_percent(unauthenticated)
    }
}

/// A uniform number in `0..100` from the operating system's RNG (100 = RNG failure:
/// never drops by chance, only when full).
pub(crate) fn roll() -> u32 {
    let mut b = [0u8; 8];
    if getrandom::fill(&mut b).is_err() {
        return 100;
    }
    u32::try_from(u64::from_le_bytes(b) % 100).unwrap_or(100)
}

/// Counts while alive: one unauthenticated or live connection.
#[derive(Debug)]
pub(crate) struct Slot(Arc<AtomicUsize>);

impl Slot {
    pub(crate) fn take(counter: &Arc<AtomicUsize>) -> Self {
        counter.fetch_add(1, Ordering::SeqCst);
        Self(counter.clone())
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Unauthenticated connections per source network (sshd's `PerSourceMaxStartups` with
/// `PerSourceNetBlockSize`).
#[derive(Debug, Default)]
pub(crate) struct PerSource {
    counts: Mutex<HashMap<IpAddr, usize>>,
}

/// `addr` with its host bits cleared: the network block it counts against. An
/// IPv4-mapped IPv6 address (a dual-stack listener) counts as the IPv4 address it maps.
pub(crate) fn net_block(addr: IpAddr, (v4, v6): (u8, u8)) -> IpAddr {
    let addr = match addr {
        IpAddr::V6(a) => a.to_ipv4_mapped().map_or(addr, IpAddr::V4),
        IpAddr::V4(_) => addr,
    };
    match addr {
        IpAddr::V4(a) => {
            let bits = u32::from(v4.min(32));
            let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
            IpAddr::V4(Ipv4Addr::from(u32::from(a) & mask))
        }
        IpAddr::V6(a) => {
            let bits = u32::from(v6.min(128));
            let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
            IpAddr::V6(Ipv6Addr::from(u128::from(a) & mask))
        }
    }
}

impl PerSource {
    /// Counts one more unauthenticated connection from `block` unless it already has
    /// `max`.
    pub(crate) fn take(self: &Arc<Self>, block: IpAddr, max: usize) -> Option<SourceSlot> {
        let mut m = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        let n = m.entry(block).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(SourceSlot {
            map: self.clone(),
            block,
        })
    }
}

/// One unauthenticated connection counted against its source network while alive.
#[derive(Debug)]
pub(crate) struct SourceSlot {
    map: Arc<PerSource>,
    block: IpAddr,
}

impl Drop for SourceSlot {
    fn drop(&mut self) {
        let mut m = self
            .map
            .counts
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = m.get_mut(&self.block) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                m.remove(&self.block);
            }
        }
    }
}

/// What a refused connection gets before it is closed: our version line and an
/// unencrypted `SSH_MSG_DISCONNECT` (`TOO_MANY_CONNECTIONS`, RFC 4253 §11.1), so the
/// client can say why.
pub(crate) fn refusal(software: &str, description: &str) -> Vec<u8> {
    let mut out = format!("SSH-2.0-{software}\r\n").into_bytes();
    let mut payload = vec![1u8];
    payload.extend_from_slice(&12u32.to_be_bytes());
    let desc = description.as_bytes();
    let len = u32::try_from(desc.len()).unwrap_or(0);
    payload.extend_from_slice(&len.to_be_bytes());
    payload.extend_from_slice(
        desc.get(..usize::try_from(len).unwrap_or(0))
            .unwrap_or_default(),
    );
    payload.extend_from_slice(&0u32.to_be_bytes());
    // length(4) + padding_length(1) + payload + padding is a multiple of 8, padding >= 4.
    let mut pad = 8 - (5 + payload.len()) % 8;
    if pad < 4 {
        pad += 8;
    }
    let packet_len = u32::try_from(1 + payload.len() + pad).unwrap_or(0);
    out.extend_from_slice(&packet_len.to_be_bytes());
    out.push(u8::try_from(pad).unwrap_or(4));
    out.extend_from_slice(&payload);
    out.resize(out.len() + pad, 0);
    out
}

/// Sends [`refusal`] without waiting and closes the socket once the client has had a
/// moment to read it (reading what it sent first, so the close is not a reset).
pub(crate) fn refuse(stream: tokio::net::TcpStream, software: &str, why: &str, slot: Slot) {
    let bytes = refusal(software, why);
    let _ = stream.try_write(&bytes);
    tokio::spawn(async move {
        let _slot = slot;
        use tokio::io::AsyncReadExt;
        let mut stream = stream;
        let _ = tokio::io::AsyncWriteExt::shutdown(&mut stream).await;
        let mut buf = [0u8; 4096];
        let drain = async {
            let mut total = 0usize;
            while let Ok(n) = stream.read(&mut buf).await {
                total += n;
                if n == 0 || total > 64 * 1024 {
                    break;
                }
            }
        };
        let _ = tokio::time::timeout(std::time::Duration::from_secs(2), drain).await;
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drop_percent_follows_sshd() {
        let m = MaxStartups::default();
        assert_eq!(m.drop_percent(0), 0);
        assert_eq!(m.drop_percent(9), 0);
        assert_eq!(m.drop_percent(10), 30);
        assert_eq!(m.drop_percent(55), 65);
        assert_eq!(m.drop_percent(99), 99);
        assert_eq!(m.drop_percent(100), 100);
        let h = MaxStartups::hard(3);
        assert_eq!(h.drop_percent(2), 0);
        assert_eq!(h.drop_percent(3), 100);
        assert!(!h.should_drop(2, 0));
        assert!(h.should_drop(3, 99));
    }

    #[test]
    fn per_source_counts_net_blocks() {
        let a: IpAddr = "192.0.2.77".parse().unwrap();
        assert_eq!(net_block(a, (32, 128)), a);
        assert_eq!(
            net_block(a, (24, 128)),
            "192.0.2.0".parse::<IpAddr>().unwrap()
        );
        assert_eq!(net_block(a, (0, 128)), "0.0.0.0".parse::<IpAddr>().unwrap());
        let b: IpAddr = "2001:db8::1:2".parse().unwrap();
        assert_eq!(
            net_block(b, (32, 64)),
            "2001:db8::".parse::<IpAddr>().unwrap()
        );
        let mapped: IpAddr = "::ffff:192.0.2.77".parse().unwrap();
        assert_eq!(
            net_block(mapped, (24, 64)),
            "192.0.2.0".parse::<IpAddr>().unwrap()
        );
        let p = Arc::new(PerSource::default());
        let s1 = p.take(a, 2).unwrap();
        let s2 = p.take(a, 2).unwrap();
        assert!(p.take(a, 2).is_none());
        assert!(p.take(b, 2).is_some());
        drop(s1);
        let s3 = p.take(a, 2).unwrap();
        drop((s2, s3));
        assert!(p.counts.lock().unwrap().is_empty());
    }

    #[test]
    fn refusal_is_a_framed_disconnect() {
        let r = refusal("whelk", "too many");
        let nl = r.iter().position(|&b| b == b'\n').unwrap();
        assert_eq!(&r[..nl + 1], b"SSH-2.0-whelk\r\n");
        let pkt = &r[nl + 1..];
        let len = u32::from_be_bytes(pkt[..4].try_into().unwrap()) as usize;
        assert_eq!(pkt.len(), len + 4);
        assert_eq!(pkt.len() % 8, 0);
        assert!(pkt[4] >= 4);
        assert_eq!(pkt[5], 1);
        assert_eq!(&pkt[6..10], &12u32.to_be_bytes());
    }
}
