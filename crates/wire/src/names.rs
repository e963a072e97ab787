//! Names the protocol uses on the wire: services, methods, request and channel types,
//! extension and marker names (RFC 4250 §4.6, RFC 8308, OpenSSH PROTOCOL).

/// `ssh-userauth` service (RFC 4252).
pub const SERVICE_USERAUTH: &str = "ssh-userauth";
/// `ssh-connection` service (RFC 4254).
pub const SERVICE_CONNECTION: &str = "ssh-connection";

/// `none` authentication method (RFC 4252 §5.2).
pub const AUTH_NONE: &str = "none";
/// `password` authentication method (RFC 4252 §8).
pub const AUTH_PASSWORD: &str = "password";
/// `publickey` authentication method (RFC 4252 §7).
pub const AUTH_PUBLICKEY: &str = "publickey";
/// `publickey-hostbound-v00@openssh.com` (OpenSSH PROTOCOL §2.5).
pub const AUTH_PUBLICKEY_HOSTBOUND: &str = "publickey-hostbound-v00@openssh.com";
/// `keyboard-interactive` (RFC 4256).
pub const AUTH_KEYBOARD_INTERACTIVE: &str = "keyboard-interactive";
/// `hostbased` (RFC 4252 §9).
pub const AUTH_HOSTBASED: &str = "hostbased";
/// `gssapi-with-mic` (RFC 4462 §3).
pub const AUTH_GSSAPI_WITH_MIC: &str = "gssapi-with-mic";

/// Client marker in `kex_algorithms`: the client accepts EXT_INFO (RFC 8308 §2.1).
pub const EXT_INFO_C: &str = "ext-info-c";
/// Server marker in `kex_algorithms` (RFC 8308 §2.1).
pub const EXT_INFO_S: &str = "ext-info-s";
/// Client strict key exchange marker (OpenSSH PROTOCOL §1.10, Terrapin defence).
pub const KEX_STRICT_C_V00: &str = "kex-strict-c-v00@openssh.com";
/// Server strict key exchange marker (OpenSSH PROTOCOL §1.10).
pub const KEX_STRICT_S_V00: &str = "kex-strict-s-v00@openssh.com";

/// EXT_INFO `server-sig-algs` (RFC 8308 §3.1).
pub const EXT_SERVER_SIG_ALGS: &str = "server-sig-algs";
/// EXT_INFO `delay-compression` (RFC 8308 §3.2).
pub const EXT_DELAY_COMPRESSION: &str = "delay-compression";
/// EXT_INFO `no-flow-control` (RFC 8308 §3.3).
pub const EXT_NO_FLOW_CONTROL: &str = "no-flow-control";
/// EXT_INFO `elevation` (RFC 8308 §3.4).
pub const EXT_ELEVATION: &str = "elevation";
/// EXT_INFO `publickey-hostbound@openssh.com` (OpenSSH PROTOCOL §1.9).
pub const EXT_PUBLICKEY_HOSTBOUND: &str = "publickey-hostbound@openssh.com";
/// EXT_INFO `ping@openssh.com` (OpenSSH PROTOCOL §1.9).
pub const EXT_PING: &str = "ping@openssh.com";

/// Global request `tcpip-forward` (RFC 4254 §7.1).
pub const TCPIP_FORWARD: &str = "tcpip-forward";
/// Global request `cancel-tcpip-forward` (RFC 4254 §7.1).
pub const CANCEL_TCPIP_FORWARD: &str = "cancel-tcpip-forward";
/// Global request `streamlocal-forward@openssh.com`.
pub const STREAMLOCAL_FORWARD: &str = "streamlocal-forward@openssh.com";
/// Global request `cancel-streamlocal-forward@openssh.com`.
pub const CANCEL_STREAMLOCAL_FORWARD: &str = "cancel-streamlocal-forward@openssh.com";
/// Global and channel request `keepalive@openssh.com`.
pub const KEEPALIVE: &str = "keepalive@openssh.com";
/// Global request `no-more-sessions@openssh.com`.
pub const NO_MORE_SESSIONS: &str = "no-more-sessions@openssh.com";
/// Global request `hostkeys-00@openssh.com`.
pub const HOSTKEYS: &str = "hostkeys-00@openssh.com";
/// Global request `hostkeys-prove-00@openssh.com`.
pub const HOSTKEYS_PROVE: &str = "hostkeys-prove-00@openssh.com";

/// Channel type `session` (RFC 4254 §6.1).
pub const CHANNEL_SESSION: &str = "session";
/// Channel type `x11` (RFC 4254 §6.3.2).
pub const CHANNEL_X11: &str = "x11";
/// Channel type `forwarded-tcpip` (RFC 4254 §7.2).
pub const CHANNEL_FORWARDED_TCPIP: &str = "forwarded-tcpip";
/// Channel type `direct-tcpip` (RFC 4254 §7.2).
pub const CHANNEL_DIRECT_TCPIP: &str = "direct-tcpip";
/// Channel type `direct-streamlocal@openssh.com`.
pub const CHANNEL_DIRECT_STREAMLOCAL: &str = "direct-streamlocal@openssh.com";
/// Channel type `forwarded-streamlocal@openssh.com`.
pub const CHANNEL_FORWARDED_STREAMLOCAL: &str = "forwarded-streamlocal@openssh.com";
/// Channel type `auth-agent@openssh.com`.
pub const CHANNEL_AUTH_AGENT: &str = "auth-agent@openssh.com";
/// Channel type `tun@openssh.com`.
pub const CHANNEL_TUN: &str = "tun@openssh.com";

/// Channel request `pty-req` (RFC 4254 §6.2).
pub const REQ_PTY: &str = "pty-req";
/// Channel request `x11-req` (RFC 4254 §6.3.1).
pub const REQ_X11: &str = "x11-req";
/// Channel request `env` (RFC 4254 §6.4).
pub const REQ_ENV: &str = "env";
/// Channel request `shell` (RFC 4254 §6.5).
pub const REQ_SHELL: &str = "shell";
/// Channel request `exec` (RFC 4254 §6.5).
pub const REQ_EXEC: &str = "exec";
/// Channel request `subsystem` (RFC 4254 §6.5).
pub const REQ_SUBSYSTEM: &str = "subsystem";
/// Channel request `window-change` (RFC 4254 §6.7).
pub const REQ_WINDOW_CHANGE: &str = "window-change";
/// Channel request `xon-xoff` (RFC 4254 §6.8).
pub const REQ_XON_XOFF: &str = "xon-xoff";
/// Channel request `signal` (RFC 4254 §6.9).
pub const REQ_SIGNAL: &str = "signal";
/// Channel request `exit-status` (RFC 4254 §6.10).
pub const REQ_EXIT_STATUS: &str = "exit-status";
/// Channel request `exit-signal` (RFC 4254 §6.10).
pub const REQ_EXIT_SIGNAL: &str = "exit-signal";
/// Channel request `break` (RFC 4335).
pub const REQ_BREAK: &str = "break";
/// Channel request `auth-agent-req@openssh.com`.
pub const REQ_AUTH_AGENT: &str = "auth-agent-req@openssh.com";
/// Channel request `eow@openssh.com`.
pub const REQ_EOW: &str = "eow@openssh.com";

/// Agent extension `session-bind@openssh.com` (OpenSSH PROTOCOL.agent).
pub const AGENT_SESSION_BIND: &str = "session-bind@openssh.com";
