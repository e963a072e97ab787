//! Port-forwarding specifications (`LocalForward`, `RemoteForward`, `DynamicForward`,
//! `-L`/`-R`/`-D`), parsed as OpenSSH's `parse_forward` does.

use core::fmt;

/// Where a forwarding listens.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ForwardListen {
    /// A TCP port, on `bind` if given (`[bind_address:]port`; `*` means all addresses).
    Tcp {
        /// The bind address, if one was given.
        bind: Option<String>,
        /// The port (0 only for remote forwards: the server picks one).
        port: u16,
    },
    /// A Unix-domain socket path.
    Unix(String),
}

/// Where forwarded connections go.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ForwardTarget {
    /// `host:hostport`.
    Tcp {
        /// The host to connect to.
        host: String,
        /// Its port.
        port: u16,
    },
    /// A Unix-domain socket path.
    Unix(String),
}

/// One forwarding: a listener and, unless it is a dynamic (SOCKS) forward, a target.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Forward {
    /// Where to listen.
    pub listen: ForwardListen,
    /// Where to connect; `None` for a dynamic (SOCKS) forward.
    pub target: Option<ForwardTarget>,
}

/// Which option a specification belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForwardKind {
    /// `LocalForward` / `-L`.
    Local,
    /// `RemoteForward` / `-R` (one argument means a remote dynamic forward).
    Remote,
    /// `DynamicForward` / `-D`.
    Dynamic,
}

/// A bad forwarding specification.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad forwarding specification \"{0}\"")]
pub struct BadForward(pub String);

struct Field {
    text: String,
    is_path: bool,
}

/// OpenSSH `parse_fwd_field`: a `[...]` field is literal; otherwise up to the next `:`, with
/// backslash escapes; a `/` makes it a path.
fn fields(spec: &str) -> Option<Vec<Field>> {
    let mut out = Vec::new();
    let mut rest = spec.trim_start_matches(' ');
    while !rest.is_empty() && out.len() < 4 {
        if let Some(inner) = rest.strip_prefix('[') {
            let end = inner.find(']')?;
            let text = inner.get(..end)?;
            let after = inner.get(end + 1..)?;
            rest = if after.is_empty() {
                after
            } else {
                after.strip_prefix(':')?
            };
            out.push(Field {
                text: text.to_owned(),
                is_path: text.contains('/'),
            });
            continue;
        }
        let mut text = String::new();
        let mut is_path = false;
        let mut chars = rest.char_indices();
        let mut consumed = rest.len();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => {
                    let (_, n) = chars.next()?;
                    if n == '/' {
                        is_path = true;
                    }
                    if n == ':' {
                        // An escaped colon is part of the field.
                    }
                    text.push(n);
                }
                '/' => {
                    is_path = true;
                    text.push(c);
                }
                ':' => {
                    consumed = i + 1;
                    break;
                }
                _ => text.push(c),
            }
        }
        rest = rest.get(consumed..).unwrap_or_default();
        out.push(Field { text, is_path });
    }
    if !rest.is_empty() {
        return None;
    }
    Some(out)
}

/// OpenSSH `a2port`: a decimal port 0..=65535.
pub(crate) fn parse_port(s: &str) -> Option<u16> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

impl Forward {
    /// Parses a specification: for local and remote forwards the two configuration
    /// arguments joined with `:` (`[bind:]port:host:hostport`, with Unix socket paths in
    /// place of either end); for dynamic ones `[bind:]port` or a path. A remote forward with
    /// only a listener is a remote dynamic forward.
    pub fn parse(spec: &str, kind: ForwardKind) -> Result<Self, BadForward> {
        let bad = || BadForward(spec.to_owned());
        let f = fields(spec).ok_or_else(bad)?;
        let port = |s: &str| parse_port(s).ok_or_else(bad);
        let dynamic = kind == ForwardKind::Dynamic
            || (kind == ForwardKind::Remote && f.len() <= 2 && !f.iter().any(|x| x.is_path));
        let forward = match (dynamic, f.as_slice()) {
            (true, [a]) => Self {
                listen: if a.is_path {
                    ForwardListen::Unix(a.text.clone())
                } else {
                    ForwardListen::Tcp {
                        bind: None,
                        port: port(&a.text)?,
                    }
                },
                target: None,
            },
            (true, [h, p]) if !h.is_path && !p.is_path => Self {
                listen: ForwardListen::Tcp {
                    bind: Some(h.text.clone()),
                    port: port(&p.text)?,
                },
                target: None,
            },
            (false, [a, b]) if a.is_path && b.is_path => Self {
                listen: ForwardListen::Unix(a.text.clone()),
                target: Some(ForwardTarget::Unix(b.text.clone())),
            },
            (false, [a, b]) if b.is_path => Self {
                listen: ForwardListen::Tcp {
                    bind: None,
                    port: port(&a.text)?,
                },
                target: Some(ForwardTarget::Unix(b.text.clone())),
            },
            (false, [a, h, p]) if a.is_path => Self {
                listen: ForwardListen::Unix(a.text.clone()),
                target: Some(ForwardTarget::Tcp {
                    host: h.text.clone(),
                    port: port(&p.text)?,
                }),
            },
            (false, [b, lp, path]) if path.is_path => Self {
                listen: ForwardListen::Tcp {
                    bind: Some(b.text.clone()),
                    port: port(&lp.text)?,
                },
                target: Some(ForwardTarget::Unix(path.text.clone())),
            },
            (false, [lp, h, p]) => Self {
                listen: ForwardListen::Tcp {
                    bind: None,
                    port: port(&lp.text)?,
                },
                target: Some(ForwardTarget::Tcp {
                    host: h.text.clone(),
                    port: port(&p.text)?,
                }),
            },
            (false, [b, lp, h, p]) => Self {
                listen: ForwardListen::Tcp {
                    bind: Some(b.text.clone()),
                    port: port(&lp.text)?,
                },
                target: Some(ForwardTarget::Tcp {
                    host: h.text.clone(),
                    port: port(&p.text)?,
                }),
            },
            _ => return Err(bad()),
        };
        // A target port of 0 is meaningless; a local listener on port 0 too.
        if let Some(ForwardTarget::Tcp { port: 0, .. }) = forward.target {
            return Err(bad());
        }
        if let Some(ForwardTarget::Tcp { host, .. }) = &forward.target
            && (host.is_empty() || host.len() >= 1025)
        {
            return Err(bad());
        }
        if kind != ForwardKind::Remote
            && let ForwardListen::Tcp { port: 0, .. } = forward.listen
        {
            return Err(bad());
        }
        Ok(forward)
    }

    /// The specification [`Forward::parse`] reads back into `self` (listener and target
    /// joined with `:`, hosts in brackets, `\\` escapes in paths), e.g. for a `-L` argument;
    /// `None` if a host contains `]`, which no specification can express.
    #[must_use]
    pub fn to_spec(&self) -> Option<String> {
        fn host(h: &str) -> Option<String> {
            (!h.contains(']')).then(|| format!("[{h}]"))
        }
        fn path(p: &str) -> String {
            let mut out = String::with_capacity(p.len());
            for c in p.chars() {
                if matches!(c, '\\' | ':' | '[') {
                    out.push('\\');
                }
                out.push(c);
            }
            out
        }
        let mut spec = match &self.listen {
            ForwardListen::Tcp { bind: None, port } => port.to_string(),
            ForwardListen::Tcp {
                bind: Some(b),
                port,
            } => format!("{}:{port}", host(b)?),
            ForwardListen::Unix(p) => path(p),
        };
        match &self.target {
            None => {}
            Some(ForwardTarget::Tcp { host: h, port }) => {
                spec.push(':');
                spec.push_str(&host(h)?);
                spec.push_str(&format!(":{port}"));
            }
            Some(ForwardTarget::Unix(p)) => {
                spec.push(':');
                spec.push_str(&path(p));
            }
        }
        Some(spec)
    }

    /// Whether this is a dynamic (SOCKS) forward.
    #[must_use]
    pub fn is_dynamic(&self) -> bool {
        self.target.is_none()
    }
}

impl fmt::Display for ForwardListen {
    /// The `ssh -G` spelling: `port`, `[bind]:port` or the path.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Tcp { bind: None, port } => write!(f, "{port}"),
            Self::Tcp {
                bind: Some(b),
                port,
            } => write!(f, "[{b}]:{port}"),
            Self::Unix(p) => write!(f, "{p}"),
        }
    }
}

impl fmt::Display for ForwardTarget {
    /// The `ssh -G` spelling: `[host]:port` or the path.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Tcp { host, port } => write!(f, "[{host}]:{port}"),
            Self::Unix(p) => write!(f, "{p}"),
        }
    }
}

impl fmt::Display for Forward {
    /// The `ssh -G` spelling: listener, then target if any, separated by a space.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.listen)?;
        if let Some(t) = &self.target {
            write!(f, " {t}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp(bind: Option<&str>, port: u16) -> ForwardListen {
        ForwardListen::Tcp {
            bind: bind.map(Into::into),
            port,
        }
    }

    fn to(host: &str, port: u16) -> Option<ForwardTarget> {
        Some(ForwardTarget::Tcp {
            host: host.into(),
            port,
        })
    }

    #[test]
    fn local_forms() {
        let l = |s| Forward::parse(s, ForwardKind::Local);
        assert_eq!(
            l("8080:localhost:80").unwrap(),
            Forward {
                listen: tcp(None, 8080),
                target: to("localhost", 80)
            }
        );
        assert_eq!(
            l("127.0.0.1:8080:db:5432").unwrap(),
            Forward {
                listen: tcp(Some("127.0.0.1"), 8080),
                target: to("db", 5432)
            }
        );
        assert_eq!(
            l("[::1]:8080:[2001:db8::1]:22").unwrap(),
            Forward {
                listen: tcp(Some("::1"), 8080),
                target: to("2001:db8::1", 22)
            }
        );
        assert_eq!(l("*:8080:h:1").unwrap().listen, tcp(Some("*"), 8080));
        assert_eq!(
            l("/tmp/l.sock:/tmp/r.sock").unwrap(),
            Forward {
                listen: ForwardListen::Unix("/tmp/l.sock".into()),
                target: Some(ForwardTarget::Unix("/tmp/r.sock".into()))
            }
        );
        assert_eq!(
            l("8080:/run/app.sock").unwrap().target,
            Some(ForwardTarget::Unix("/run/app.sock".into()))
        );
        assert_eq!(
            l("/tmp/l.sock:h:22").unwrap().listen,
            ForwardListen::Unix("/tmp/l.sock".into())
        );
        assert_eq!(
            l("lo:8080:/run/app.sock").unwrap().listen,
            tcp(Some("lo"), 8080)
        );
        assert_eq!(l("8080:h:22").unwrap().to_string(), "8080 [h]:22");
        for spec in [
            "8080:h:22",
            "[::1]:8080:[2001:db8::1]:22",
            "/tmp/a\\:b:/tmp/c",
            "8080:/run/x.sock",
            "/tmp/l.sock:h:1",
        ] {
            let f = l(spec).unwrap();
            let again = Forward::parse(&f.to_spec().unwrap(), ForwardKind::Local).unwrap();
            assert_eq!(again, f, "{spec}");
        }
        assert_eq!(
            l("/tmp/a\\:b:/tmp/c").unwrap().listen,
            ForwardListen::Unix("/tmp/a:b".into())
        );
        for bad in [
            "8080",
            "0:h:1",
            "8080:h:0",
            "8080:h:x",
            "65536:h:1",
            "a:b:c:d:e",
            "[::1:1:h:2",
            "8080::22",
            "-1:h:2",
            "+1:h:2",
        ] {
            assert!(l(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn remote_and_dynamic() {
        let r = |s| Forward::parse(s, ForwardKind::Remote);
        let d = |s| Forward::parse(s, ForwardKind::Dynamic);
        assert_eq!(r("0:localhost:22").unwrap().listen, tcp(None, 0));
        assert_eq!(
            r("1080").unwrap(),
            Forward {
                listen: tcp(None, 1080),
                target: None
            }
        );
        assert_eq!(
            d("1080").unwrap(),
            Forward {
                listen: tcp(None, 1080),
                target: None
            }
        );
        assert_eq!(
            d("127.0.0.1:1080").unwrap().listen,
            tcp(Some("127.0.0.1"), 1080)
        );
        assert_eq!(d("[::1]:1080").unwrap().listen, tcp(Some("::1"), 1080));
        assert!(d("1080:h:22").is_err());
        assert!(d("0").is_err());
        assert!(d("x").is_err());
        assert!(d("1080").unwrap().is_dynamic());
    }
}
