//! `-L`, `-R`, `-D` and `LocalForward`, `RemoteForward`, `DynamicForward`, with
//! `ExitOnForwardFailure`. The handles returned keep the forwardings open.

use whelk_config::{Forward, ForwardKind, ForwardListen, ForwardTarget};
use whelk_tokio::{Client, Endpoint, LocalForward, RemoteForward};

use super::options::Resolved;
use super::{Args, Fail};

/// Open forwardings (closed when dropped).
#[derive(Default)]
pub(super) struct Forwards {
    _local: Vec<LocalForward>,
    _remote: Vec<RemoteForward>,
}

/// Where a local listener binds: `localhost` unless an address is given (`*` or empty:
/// every address).
fn local_listen(l: &ForwardListen) -> Endpoint {
    match l {
        ForwardListen::Tcp { bind, port } => {
            let host = match bind.as_deref() {
                None | Some("localhost") => "127.0.0.1",
                Some("*" | "") => "0.0.0.0",
                Some(b) => b,
            };
            Endpoint::tcp(host, *port)
        }
        ForwardListen::Unix(p) => Endpoint::unix(p.clone()),
    }
}

fn target(t: &ForwardTarget) -> Endpoint {
    match t {
        ForwardTarget::Tcp { host, port } => Endpoint::tcp(host, *port),
        ForwardTarget::Unix(p) => Endpoint::unix(p.clone()),
    }
}

/// Parses the command-line specifications and merges them with the configured ones.
fn all(args: &Args, r: &Resolved) -> Result<Vec<(ForwardKind, Forward)>, Fail> {
    let mut out = Vec::new();
    for (specs, kind) in [
        (&args.local, ForwardKind::Local),
        (&args.remote, ForwardKind::Remote),
        (&args.dynamic, ForwardKind::Dynamic),
    ] {
        for s in specs {
            let f = Forward::parse(s, kind).map_err(|_| {
                Fail::new(format!(
                    "Bad {} forwarding specification '{s}'",
                    match kind {
                        ForwardKind::Local => "local",
                        ForwardKind::Remote => "remote",
                        ForwardKind::Dynamic => "dynamic",
                    }
                ))
            })?;
            out.push((kind, f));
        }
    }
    for f in &r.cfg.local_forwards {
        out.push((ForwardKind::Local, f.clone()));
    }
    for f in &r.cfg.remote_forwards {
        out.push((ForwardKind::Remote, f.clone()));
    }
    for f in &r.cfg.dynamic_forwards {
        out.push((ForwardKind::Dynamic, f.clone()));
    }
    Ok(out)
}

/// Starts every forwarding. A failure is a warning, or fatal with `ExitOnForwardFailure`.
pub(super) async fn start(
    args: &Args,
    r: &Resolved,
    client: &Client,
    quiet: bool,
) -> Result<Forwards, Fail> {
    let strict = r.cfg.exit_on_forward_failure == Some(true);
    let mut fw = Forwards::default();
    for (kind, f) in all(args, r)? {
        let listen = local_listen(&f.listen);
        let result: Result<(), String> = match (kind, &f.target) {
            (ForwardKind::Local, Some(t)) => client
                .forward_local_to(listen.clone(), target(t))
                .await
                .map(|h| {
                    tracing::debug!("Local forwarding listening on {listen}");
                    fw._local.push(h);
                })
                .map_err(|e| {
                    format!("Warning: local port forwarding failed for listen {listen}: {e}")
                }),
            (ForwardKind::Dynamic, _) | (ForwardKind::Remote, None)
                if kind == ForwardKind::Dynamic =>
            {
                client
                    .forward_dynamic(&listen.to_string())
                    .await
                    .map(|h| fw._local.push(h))
                    .map_err(|e| {
                        format!("Warning: dynamic forwarding failed for listen {listen}: {e}")
                    })
            }
            (ForwardKind::Remote, Some(t)) => {
                let remote = match &f.listen {
                    ForwardListen::Tcp { bind, port } => Endpoint::tcp(
                        match bind.as_deref() {
                            None => "localhost",
                            Some("*") => "",
                            Some(b) => b,
                        },
                        *port,
                    ),
                    ForwardListen::Unix(p) => Endpoint::unix(p.clone()),
                };
                client
                    .forward_remote_to(remote.clone(), target(t))
                    .await
                    .map(|h| {
                        if let (ForwardListen::Tcp { port: 0, .. }, Some(p)) =
                            (&f.listen, h.remote_port())
                            && !quiet
                        {
                            eprintln!("Allocated port {p} for remote forward to {}", target(t));
                        }
                        fw._remote.push(h);
                    })
                    .map_err(|e| {
                        format!("Warning: remote port forwarding failed for listen {remote}: {e}")
                    })
            }
            _ => Err(format!(
                "Warning: unsupported forwarding {}",
                f.to_spec().unwrap_or_default()
            )),
        };
        if let Err(msg) = result {
            if strict {
                return Err(Fail::new(msg.replacen("Warning: ", "Error: ", 1)));
            }
            eprintln!("{msg}");
        }
    }
    Ok(fw)
}

/// `ssh -W host:port`: stdin and stdout joined to a `direct-tcpip` channel to `host:port`
/// (`[host]:port` for IPv6). Returns 0 when the channel closes, 255 if it cannot be
/// opened.
pub(super) async fn stdio(client: &Client, spec: &str) -> Result<u8, Fail> {
    let bad = || Fail::new(format!("Bad stdio forwarding specification '{spec}'"));
    let (host, port) = match spec.strip_prefix('[') {
        Some(rest) => {
            let (h, p) = rest.split_once("]:").ok_or_else(bad)?;
            (h, p)
        }
        None => spec.rsplit_once(':').ok_or_else(bad)?,
    };
    let port: u16 = port.parse().map_err(|_| bad())?;
    let channel = client.direct_tcpip(host, port).await.map_err(|e| {
        Fail::new(format!(
            "channel 0: open failed: {e}\nstdio forwarding failed"
        ))
    })?;
    let (mut from_remote, mut to_remote) = tokio::io::split(channel);
    let up = async move {
        let mut stdin = tokio::io::stdin();
        let _ = tokio::io::copy(&mut stdin, &mut to_remote).await;
        let _ = tokio::io::AsyncWriteExt::shutdown(&mut to_remote).await;
    };
    let down = async move {
        let mut stdout = tokio::io::stdout();
        let _ = tokio::io::copy(&mut from_remote, &mut stdout).await;
        let _ = tokio::io::AsyncWriteExt::flush(&mut stdout).await;
    };
    // Done when the remote side closes; stdin may still be open (ProxyCommand use).
    let up = tokio::spawn(up);
    down.await;
    up.abort();
    Ok(0)
}
