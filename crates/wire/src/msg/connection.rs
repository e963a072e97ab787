//! Connection protocol messages (RFC 4254), with the request and channel types of RFC 4254,
//! RFC 4335 (`break`) and OpenSSH PROTOCOL §§2.2-2.4 (streamlocal, tun, no-more-sessions,
//! hostkeys, keepalive, `eow@openssh.com`, `auth-agent@openssh.com`).

use alloc::vec::Vec;

use bytes::{BufMut, Bytes};

use super::{ChannelOpenFailureReason, ExtendedDataType, MessageBody, message};
use crate::error::Result;
use crate::names;
use crate::types::{Field, PutSsh, Reader, Text, string_len};

message! {
    /// `SSH_MSG_REQUEST_SUCCESS` (RFC 4254 §4). The response data depends on the request:
    /// a bound port for `tcpip-forward` with port 0, signatures for `hostkeys-prove-00`.
    RequestSuccess = 81, "SSH_MSG_REQUEST_SUCCESS" {
        /// Request-specific data, unparsed (see [`RequestSuccess::bound_port`]).
        data: RawTail,
    }
}

impl RequestSuccess {
    /// The port the server bound, for a `tcpip-forward` request that asked for port 0.
    pub fn bound_port(&self) -> Result<u32> {
        let mut r = Reader::new(&self.data.0, "tcpip-forward reply");
        let port = r.u32()?;
        r.finish()?;
        Ok(port)
    }

    /// The signatures of a `hostkeys-prove-00@openssh.com` reply, one per key, in order.
    pub fn hostkey_signatures(&self) -> Result<Vec<Bytes>> {
        let mut r = Reader::new(&self.data.0, "hostkeys-prove-00 reply");
        let mut sigs = Vec::new();
        while r.remaining() > 0 {
            sigs.push(r.string()?);
        }
        Ok(sigs)
    }
}

message! {
    /// `SSH_MSG_REQUEST_FAILURE` (RFC 4254 §4): no fields.
    RequestFailure = 82, "SSH_MSG_REQUEST_FAILURE" {}
}

message! {
    /// `SSH_MSG_CHANNEL_OPEN_CONFIRMATION` (RFC 4254 §5.1).
    ChannelOpenConfirmation = 91, "SSH_MSG_CHANNEL_OPEN_CONFIRMATION" {
        /// The opener's channel number.
        recipient: u32,
        /// The confirmer's channel number.
        sender: u32,
        /// Initial window size.
        initial_window: u32,
        /// Maximum packet size.
        max_packet: u32,
        /// Channel-type-specific data (none for the standard types).
        data: RawTail,
    }
}

message! {
    /// `SSH_MSG_CHANNEL_OPEN_FAILURE` (RFC 4254 §5.1).
    ChannelOpenFailure = 92, "SSH_MSG_CHANNEL_OPEN_FAILURE" {
        /// The opener's channel number.
        recipient: u32,
        /// Reason code.
        reason: ChannelOpenFailureReason,
        /// Description (UTF-8).
        description: Text,
        /// Language tag.
        language: Text,
    }
}

message! {
    /// `SSH_MSG_CHANNEL_WINDOW_ADJUST` (RFC 4254 §5.2).
    ChannelWindowAdjust = 93, "SSH_MSG_CHANNEL_WINDOW_ADJUST" {
        /// Recipient channel.
        recipient: u32,
        /// Bytes to add to the window.
        bytes_to_add: u32,
    }
}

message! {
    /// `SSH_MSG_CHANNEL_DATA` (RFC 4254 §5.2). `data` is a slice of the packet, not a copy.
    ChannelData = 94, "SSH_MSG_CHANNEL_DATA" {
        /// Recipient channel.
        recipient: u32,
        /// The data.
        data: Bytes,
    }
}

message! {
    /// `SSH_MSG_CHANNEL_EXTENDED_DATA` (RFC 4254 §5.2).
    ChannelExtendedData = 95, "SSH_MSG_CHANNEL_EXTENDED_DATA" {
        /// Recipient channel.
        recipient: u32,
        /// Data type (1 = stderr).
        data_type: ExtendedDataType,
        /// The data.
        data: Bytes,
    }
}

message! {
    /// `SSH_MSG_CHANNEL_EOF` (RFC 4254 §5.3).
    ChannelEof = 96, "SSH_MSG_CHANNEL_EOF" {
        /// Recipient channel.
        recipient: u32,
    }
}

message! {
    /// `SSH_MSG_CHANNEL_CLOSE` (RFC 4254 §5.3).
    ChannelClose = 97, "SSH_MSG_CHANNEL_CLOSE" {
        /// Recipient channel.
        recipient: u32,
    }
}

message! {
    /// `SSH_MSG_CHANNEL_SUCCESS` (RFC 4254 §5.4).
    ChannelSuccess = 99, "SSH_MSG_CHANNEL_SUCCESS" {
        /// Recipient channel.
        recipient: u32,
    }
}

message! {
    /// `SSH_MSG_CHANNEL_FAILURE` (RFC 4254 §5.4).
    ChannelFailure = 100, "SSH_MSG_CHANNEL_FAILURE" {
        /// Recipient channel.
        recipient: u32,
    }
}

/// The unparsed bytes at the end of a message (type-specific data).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RawTail(pub Bytes);

impl Field for RawTail {
    fn read(r: &mut Reader<'_>) -> Result<Self> {
        Ok(Self(r.rest()))
    }
    fn len(&self) -> usize {
        self.0.len()
    }
    fn write<B: BufMut + ?Sized>(&self, out: &mut B) {
        out.put_slice(&self.0);
    }
}

/// Reads a sequence of strings until the end of the input.
fn read_strings(r: &mut Reader<'_>) -> Result<Vec<Bytes>> {
    let mut v = Vec::new();
    while r.remaining() > 0 {
        v.push(r.string()?);
    }
    Ok(v)
}

fn strings_len(v: &[Bytes]) -> usize {
    v.iter().map(|s| string_len(s.len())).sum()
}

/// The request-specific part of `SSH_MSG_GLOBAL_REQUEST`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum GlobalRequestKind {
    /// `tcpip-forward` (RFC 4254 §7.1).
    TcpipForward {
        /// Address to bind on the server.
        address: Text,
        /// Port to bind (0 = server chooses).
        port: u32,
    },
    /// `cancel-tcpip-forward` (RFC 4254 §7.1).
    CancelTcpipForward {
        /// Address that was bound.
        address: Text,
        /// Port that was bound.
        port: u32,
    },
    /// `streamlocal-forward@openssh.com` (OpenSSH PROTOCOL §2.4).
    StreamlocalForward {
        /// Socket path to listen on.
        socket_path: Text,
    },
    /// `cancel-streamlocal-forward@openssh.com` (OpenSSH PROTOCOL §2.4).
    CancelStreamlocalForward {
        /// Socket path that was listened on.
        socket_path: Text,
    },
    /// `keepalive@openssh.com`: answered with failure; only its round trip matters.
    Keepalive,
    /// `no-more-sessions@openssh.com` (OpenSSH PROTOCOL §2.2).
    NoMoreSessions,
    /// `hostkeys-00@openssh.com` (OpenSSH PROTOCOL §2.5): the server's host keys.
    HostKeys {
        /// Public key blobs.
        keys: Vec<Bytes>,
    },
    /// `hostkeys-prove-00@openssh.com` (OpenSSH PROTOCOL §2.5): asks for proof of possession.
    HostKeysProve {
        /// Public key blobs.
        keys: Vec<Bytes>,
    },
    /// Any other request: its name and the raw bytes after `want reply`.
    Other {
        /// Request name.
        name: Text,
        /// Request-specific data.
        data: Bytes,
    },
}

impl GlobalRequestKind {
    /// The request name as sent on the wire.
    #[must_use]
    pub fn name(&self) -> &[u8] {
        match self {
            Self::TcpipForward { .. } => names::TCPIP_FORWARD.as_bytes(),
            Self::CancelTcpipForward { .. } => names::CANCEL_TCPIP_FORWARD.as_bytes(),
            Self::StreamlocalForward { .. } => names::STREAMLOCAL_FORWARD.as_bytes(),
            Self::CancelStreamlocalForward { .. } => names::CANCEL_STREAMLOCAL_FORWARD.as_bytes(),
            Self::Keepalive => names::KEEPALIVE.as_bytes(),
            Self::NoMoreSessions => names::NO_MORE_SESSIONS.as_bytes(),
            Self::HostKeys { .. } => names::HOSTKEYS.as_bytes(),
            Self::HostKeysProve { .. } => names::HOSTKEYS_PROVE.as_bytes(),
            Self::Other { name, .. } => name.as_bytes(),
        }
    }
}

/// `SSH_MSG_GLOBAL_REQUEST` (RFC 4254 §4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GlobalRequest {
    /// Whether the sender wants SUCCESS/FAILURE back.
    pub want_reply: bool,
    /// The request and its fields.
    pub kind: GlobalRequestKind,
}

impl MessageBody for GlobalRequest {
    const NUMBER: u8 = 80;
    const NAME: &'static str = "SSH_MSG_GLOBAL_REQUEST";

    fn read_body(r: &mut Reader<'_>) -> Result<Self> {
        let name = r.string_slice()?;
        let want_reply = r.bool()?;
        let kind = match core::str::from_utf8(name) {
            Ok(names::TCPIP_FORWARD) => GlobalRequestKind::TcpipForward {
                address: r.text()?,
                port: r.u32()?,
            },
            Ok(names::CANCEL_TCPIP_FORWARD) => GlobalRequestKind::CancelTcpipForward {
                address: r.text()?,
                port: r.u32()?,
            },
            Ok(names::STREAMLOCAL_FORWARD) => GlobalRequestKind::StreamlocalForward {
                socket_path: r.text()?,
            },
            Ok(names::CANCEL_STREAMLOCAL_FORWARD) => GlobalRequestKind::CancelStreamlocalForward {
                socket_path: r.text()?,
            },
            Ok(names::KEEPALIVE) => GlobalRequestKind::Keepalive,
            Ok(names::NO_MORE_SESSIONS) => GlobalRequestKind::NoMoreSessions,
            Ok(names::HOSTKEYS) => GlobalRequestKind::HostKeys {
                keys: read_strings(r)?,
            },
            Ok(names::HOSTKEYS_PROVE) => GlobalRequestKind::HostKeysProve {
                keys: read_strings(r)?,
            },
            _ => GlobalRequestKind::Other {
                name: Text(r.slice_of(name)),
                data: r.rest(),
            },
        };
        Ok(Self { want_reply, kind })
    }

    fn body_len(&self) -> usize {
        string_len(self.kind.name().len())
            + 1
            + match &self.kind {
                GlobalRequestKind::TcpipForward { address, .. }
                | GlobalRequestKind::CancelTcpipForward { address, .. } => Field::len(address) + 4,
                GlobalRequestKind::StreamlocalForward { socket_path }
                | GlobalRequestKind::CancelStreamlocalForward { socket_path } => {
                    Field::len(socket_path)
                }
                GlobalRequestKind::Keepalive | GlobalRequestKind::NoMoreSessions => 0,
                GlobalRequestKind::HostKeys { keys }
                | GlobalRequestKind::HostKeysProve { keys } => strings_len(keys),
                GlobalRequestKind::Other { data, .. } => data.len(),
            }
    }

    fn write_body<B: BufMut + ?Sized>(&self, out: &mut B) {
        out.put_ssh_string(self.kind.name());
        out.put_ssh_bool(self.want_reply);
        match &self.kind {
            GlobalRequestKind::TcpipForward { address, port }
            | GlobalRequestKind::CancelTcpipForward { address, port } => {
                out.put_ssh_string(address.as_bytes());
                out.put_u32(*port);
            }
            GlobalRequestKind::StreamlocalForward { socket_path }
            | GlobalRequestKind::CancelStreamlocalForward { socket_path } => {
                out.put_ssh_string(socket_path.as_bytes());
            }
            GlobalRequestKind::Keepalive | GlobalRequestKind::NoMoreSessions => {}
            GlobalRequestKind::HostKeys { keys } | GlobalRequestKind::HostKeysProve { keys } => {
                for k in keys {
                    out.put_ssh_string(k);
                }
            }
            GlobalRequestKind::Other { data, .. } => out.put_slice(data),
        }
    }
}

/// The type-specific part of `SSH_MSG_CHANNEL_OPEN`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChannelOpenKind {
    /// `session` (RFC 4254 §6.1).
    Session,
    /// `x11` (RFC 4254 §6.3.2).
    X11 {
        /// Originator address.
        originator_address: Text,
        /// Originator port.
        originator_port: u32,
    },
    /// `forwarded-tcpip` (RFC 4254 §7.2).
    ForwardedTcpip {
        /// Address that was connected.
        connected_address: Text,
        /// Port that was connected.
        connected_port: u32,
        /// Originator address.
        originator_address: Text,
        /// Originator port.
        originator_port: u32,
    },
    /// `direct-tcpip` (RFC 4254 §7.2).
    DirectTcpip {
        /// Host to connect to.
        host: Text,
        /// Port to connect to.
        port: u32,
        /// Originator address.
        originator_address: Text,
        /// Originator port.
        originator_port: u32,
    },
    /// `direct-streamlocal@openssh.com` (OpenSSH PROTOCOL §2.4).
    DirectStreamlocal {
        /// Socket path to connect to.
        socket_path: Text,
        /// Reserved string.
        reserved: Text,
        /// Reserved uint32.
        reserved_port: u32,
    },
    /// `forwarded-streamlocal@openssh.com` (OpenSSH PROTOCOL §2.4).
    ForwardedStreamlocal {
        /// Socket path that was connected.
        socket_path: Text,
        /// Reserved string.
        reserved: Text,
    },
    /// `auth-agent@openssh.com` (OpenSSH PROTOCOL.agent).
    AuthAgent,
    /// `tun@openssh.com` (OpenSSH PROTOCOL §2.3).
    Tun {
        /// Tunnel mode: 1 = point-to-point (layer 3), 2 = Ethernet (layer 2).
        mode: u32,
        /// Remote unit number (`0x7fffffff` = any).
        remote_unit: u32,
    },
    /// Any other channel type: its name and the raw bytes after the common fields.
    Other {
        /// Channel type name.
        channel_type: Text,
        /// Type-specific data.
        data: Bytes,
    },
}

impl ChannelOpenKind {
    /// The channel type as sent on the wire.
    #[must_use]
    pub fn name(&self) -> &[u8] {
        match self {
            Self::Session => names::CHANNEL_SESSION.as_bytes(),
            Self::X11 { .. } => names::CHANNEL_X11.as_bytes(),
            Self::ForwardedTcpip { .. } => names::CHANNEL_FORWARDED_TCPIP.as_bytes(),
            Self::DirectTcpip { .. } => names::CHANNEL_DIRECT_TCPIP.as_bytes(),
            Self::DirectStreamlocal { .. } => names::CHANNEL_DIRECT_STREAMLOCAL.as_bytes(),
            Self::ForwardedStreamlocal { .. } => names::CHANNEL_FORWARDED_STREAMLOCAL.as_bytes(),
            Self::AuthAgent => names::CHANNEL_AUTH_AGENT.as_bytes(),
            Self::Tun { .. } => names::CHANNEL_TUN.as_bytes(),
            Self::Other { channel_type, .. } => channel_type.as_bytes(),
        }
    }
}

/// `SSH_MSG_CHANNEL_OPEN` (RFC 4254 §5.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelOpen {
    /// The opener's channel number.
    pub sender: u32,
    /// Initial window size.
    pub initial_window: u32,
    /// Maximum packet size.
    pub max_packet: u32,
    /// Channel type and its fields.
    pub kind: ChannelOpenKind,
}

impl MessageBody for ChannelOpen {
    const NUMBER: u8 = 90;
    const NAME: &'static str = "SSH_MSG_CHANNEL_OPEN";

    fn read_body(r: &mut Reader<'_>) -> Result<Self> {
        let name = r.string_slice()?;
        let sender = r.u32()?;
        let initial_window = r.u32()?;
        let max_packet = r.u32()?;
        let kind = match core::str::from_utf8(name) {
            Ok(names::CHANNEL_SESSION) => ChannelOpenKind::Session,
            Ok(names::CHANNEL_X11) => ChannelOpenKind::X11 {
                originator_address: r.text()?,
                originator_port: r.u32()?,
            },
            Ok(names::CHANNEL_FORWARDED_TCPIP) => ChannelOpenKind::ForwardedTcpip {
                connected_address: r.text()?,
                connected_port: r.u32()?,
                originator_address: r.text()?,
                originator_port: r.u32()?,
            },
            Ok(names::CHANNEL_DIRECT_TCPIP) => ChannelOpenKind::DirectTcpip {
                host: r.text()?,
                port: r.u32()?,
                originator_address: r.text()?,
                originator_port: r.u32()?,
            },
            Ok(names::CHANNEL_DIRECT_STREAMLOCAL) => ChannelOpenKind::DirectStreamlocal {
                socket_path: r.text()?,
                reserved: r.text()?,
                reserved_port: r.u32()?,
            },
            Ok(names::CHANNEL_FORWARDED_STREAMLOCAL) => ChannelOpenKind::ForwardedStreamlocal {
                socket_path: r.text()?,
                reserved: r.text()?,
            },
            Ok(names::CHANNEL_AUTH_AGENT) => ChannelOpenKind::AuthAgent,
            Ok(names::CHANNEL_TUN) => ChannelOpenKind::Tun {
                mode: r.u32()?,
                remote_unit: r.u32()?,
            },
            _ => ChannelOpenKind::Other {
                channel_type: Text(r.slice_of(name)),
                data: r.rest(),
            },
        };
        Ok(Self {
            sender,
            initial_window,
            max_packet,
            kind,
        })
    }

    fn body_len(&self) -> usize {
        string_len(self.kind.name().len())
            + 12
            + match &self.kind {
                ChannelOpenKind::Session | ChannelOpenKind::AuthAgent => 0,
                ChannelOpenKind::X11 {
                    originator_address, ..
                } => Field::len(originator_address) + 4,
                ChannelOpenKind::ForwardedTcpip {
                    connected_address: a,
                    originator_address: b,
                    ..
                }
                | ChannelOpenKind::DirectTcpip {
                    host: a,
                    originator_address: b,
                    ..
                } => Field::len(a) + Field::len(b) + 8,
                ChannelOpenKind::DirectStreamlocal {
                    socket_path,
                    reserved,
                    ..
                } => Field::len(socket_path) + Field::len(reserved) + 4,
                ChannelOpenKind::ForwardedStreamlocal {
                    socket_path,
                    reserved,
                } => Field::len(socket_path) + Field::len(reserved),
                ChannelOpenKind::Tun { .. } => 8,
                ChannelOpenKind::Other { data, .. } => data.len(),
            }
    }

    fn write_body<B: BufMut + ?Sized>(&self, out: &mut B) {
        out.put_ssh_string(self.kind.name());
        out.put_u32(self.sender);
        out.put_u32(self.initial_window);
        out.put_u32(self.max_packet);
        match &self.kind {
            ChannelOpenKind::Session | ChannelOpenKind::AuthAgent => {}
            ChannelOpenKind::X11 {
                originator_address,
                originator_port,
            } => {
                out.put_ssh_string(originator_address.as_bytes());
                out.put_u32(*originator_port);
            }
            ChannelOpenKind::ForwardedTcpip {
                connected_address: a,
                connected_port: pa,
                originator_address: b,
                originator_port: pb,
            }
            | ChannelOpenKind::DirectTcpip {
                host: a,
                port: pa,
                originator_address: b,
                originator_port: pb,
            } => {
                out.put_ssh_string(a.as_bytes());
                out.put_u32(*pa);
                out.put_ssh_string(b.as_bytes());
                out.put_u32(*pb);
            }
            ChannelOpenKind::DirectStreamlocal {
                socket_path,
                reserved,
                reserved_port,
            } => {
                out.put_ssh_string(socket_path.as_bytes());
                out.put_ssh_string(reserved.as_bytes());
                out.put_u32(*reserved_port);
            }
            ChannelOpenKind::ForwardedStreamlocal {
                socket_path,
                reserved,
            } => {
                out.put_ssh_string(socket_path.as_bytes());
                out.put_ssh_string(reserved.as_bytes());
            }
            ChannelOpenKind::Tun { mode, remote_unit } => {
                out.put_u32(*mode);
                out.put_u32(*remote_unit);
            }
            ChannelOpenKind::Other { data, .. } => out.put_slice(data),
        }
    }
}

/// The type-specific part of `SSH_MSG_CHANNEL_REQUEST`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChannelRequestKind {
    /// `pty-req` (RFC 4254 §6.2).
    PtyReq {
        /// `TERM` value, e.g. `xterm-256color`.
        term: Text,
        /// Width in characters.
        columns: u32,
        /// Height in rows.
        rows: u32,
        /// Width in pixels.
        width_px: u32,
        /// Height in pixels.
        height_px: u32,
        /// Encoded terminal modes (RFC 4254 §8), unparsed.
        modes: Bytes,
    },
    /// `x11-req` (RFC 4254 §6.3.1).
    X11Req {
        /// Forward only one connection.
        single_connection: bool,
        /// X11 authentication protocol, e.g. `MIT-MAGIC-COOKIE-1`.
        auth_protocol: Text,
        /// X11 authentication cookie (hex).
        auth_cookie: Text,
        /// X11 screen number.
        screen: u32,
    },
    /// `env` (RFC 4254 §6.4).
    Env {
        /// Variable name.
        name: Text,
        /// Variable value.
        value: Text,
    },
    /// `shell` (RFC 4254 §6.5).
    Shell,
    /// `exec` (RFC 4254 §6.5).
    Exec {
        /// The command line (bytes, not necessarily UTF-8).
        command: Bytes,
    },
    /// `subsystem` (RFC 4254 §6.5).
    Subsystem {
        /// Subsystem name, e.g. `sftp`.
        name: Text,
    },
    /// `window-change` (RFC 4254 §6.7).
    WindowChange {
        /// Width in characters.
        columns: u32,
        /// Height in rows.
        rows: u32,
        /// Width in pixels.
        width_px: u32,
        /// Height in pixels.
        height_px: u32,
    },
    /// `xon-xoff` (RFC 4254 §6.8).
    XonXoff {
        /// Whether the client may do flow control.
        client_can_do: bool,
    },
    /// `signal` (RFC 4254 §6.9).
    Signal {
        /// Signal name without `SIG`, e.g. `TERM`.
        name: Text,
    },
    /// `exit-status` (RFC 4254 §6.10).
    ExitStatus {
        /// Exit status.
        status: u32,
    },
    /// `exit-signal` (RFC 4254 §6.10).
    ExitSignal {
        /// Signal name without `SIG`.
        signal: Text,
        /// Whether a core was dumped.
        core_dumped: bool,
        /// Error message.
        message: Text,
        /// Language tag.
        language: Text,
    },
    /// `break` (RFC 4335 §3).
    Break {
        /// Break length in milliseconds.
        length_ms: u32,
    },
    /// `auth-agent-req@openssh.com` (OpenSSH PROTOCOL.agent).
    AuthAgentReq,
    /// `eow@openssh.com` (OpenSSH PROTOCOL §2.1): end of write, the reading side is still open.
    EndOfWrite,
    /// `keepalive@openssh.com`: answered with failure; only its round trip matters.
    Keepalive,
    /// Any other request: its name and the raw bytes after `want reply`.
    Other {
        /// Request type.
        request: Text,
        /// Request-specific data.
        data: Bytes,
    },
}

impl ChannelRequestKind {
    /// The request type as sent on the wire.
    #[must_use]
    pub fn name(&self) -> &[u8] {
        match self {
            Self::PtyReq { .. } => names::REQ_PTY.as_bytes(),
            Self::X11Req { .. } => names::REQ_X11.as_bytes(),
            Self::Env { .. } => names::REQ_ENV.as_bytes(),
            Self::Shell => names::REQ_SHELL.as_bytes(),
            Self::Exec { .. } => names::REQ_EXEC.as_bytes(),
            Self::Subsystem { .. } => names::REQ_SUBSYSTEM.as_bytes(),
            Self::WindowChange { .. } => names::REQ_WINDOW_CHANGE.as_bytes(),
            Self::XonXoff { .. } => names::REQ_XON_XOFF.as_bytes(),
            Self::Signal { .. } => names::REQ_SIGNAL.as_bytes(),
            Self::ExitStatus { .. } => names::REQ_EXIT_STATUS.as_bytes(),
            Self::ExitSignal { .. } => names::REQ_EXIT_SIGNAL.as_bytes(),
            Self::Break { .. } => names::REQ_BREAK.as_bytes(),
            Self::AuthAgentReq => names::REQ_AUTH_AGENT.as_bytes(),
            Self::EndOfWrite => names::REQ_EOW.as_bytes(),
            Self::Keepalive => names::KEEPALIVE.as_bytes(),
            Self::Other { request, .. } => request.as_bytes(),
        }
    }
}

/// `SSH_MSG_CHANNEL_REQUEST` (RFC 4254 §5.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelRequest {
    /// Recipient channel.
    pub recipient: u32,
    /// Whether the sender wants CHANNEL_SUCCESS/FAILURE back.
    pub want_reply: bool,
    /// The request and its fields.
    pub kind: ChannelRequestKind,
}

impl MessageBody for ChannelRequest {
    const NUMBER: u8 = 98;
    const NAME: &'static str = "SSH_MSG_CHANNEL_REQUEST";

    fn read_body(r: &mut Reader<'_>) -> Result<Self> {
        use ChannelRequestKind as K;
        let recipient = r.u32()?;
        let name = r.string_slice()?;
        let want_reply = r.bool()?;
        let kind = match core::str::from_utf8(name) {
            Ok(names::REQ_PTY) => K::PtyReq {
                term: r.text()?,
                columns: r.u32()?,
                rows: r.u32()?,
                width_px: r.u32()?,
                height_px: r.u32()?,
                modes: r.string()?,
            },
            Ok(names::REQ_X11) => K::X11Req {
                single_connection: r.bool()?,
                auth_protocol: r.text()?,
                auth_cookie: r.text()?,
                screen: r.u32()?,
            },
            Ok(names::REQ_ENV) => K::Env {
                name: r.text()?,
                value: r.text()?,
            },
            Ok(names::REQ_SHELL) => K::Shell,
            Ok(names::REQ_EXEC) => K::Exec {
                command: r.string()?,
            },
            Ok(names::REQ_SUBSYSTEM) => K::Subsystem { name: r.text()? },
            Ok(names::REQ_WINDOW_CHANGE) => K::WindowChange {
                columns: r.u32()?,
                rows: r.u32()?,
                width_px: r.u32()?,
                height_px: r.u32()?,
            },
            Ok(names::REQ_XON_XOFF) => K::XonXoff {
                client_can_do: r.bool()?,
            },
            Ok(names::REQ_SIGNAL) => K::Signal { name: r.text()? },
            Ok(names::REQ_EXIT_STATUS) => K::ExitStatus { status: r.u32()? },
            Ok(names::REQ_EXIT_SIGNAL) => K::ExitSignal {
                signal: r.text()?,
                core_dumped: r.bool()?,
                message: r.text()?,
                language: r.text()?,
            },
            Ok(names::REQ_BREAK) => K::Break {
                length_ms: r.u32()?,
            },
            Ok(names::REQ_AUTH_AGENT) => K::AuthAgentReq,
            Ok(names::REQ_EOW) => K::EndOfWrite,
            Ok(names::KEEPALIVE) => K::Keepalive,
            _ => K::Other {
                request: Text(r.slice_of(name)),
                data: r.rest(),
            },
        };
        Ok(Self {
            recipient,
            want_reply,
            kind,
        })
    }

    fn body_len(&self) -> usize {
        use ChannelRequestKind as K;
        4 + string_len(self.kind.name().len())
            + 1
            + match &self.kind {
                K::PtyReq { term, modes, .. } => Field::len(term) + 16 + string_len(modes.len()),
                K::X11Req {
                    auth_protocol,
                    auth_cookie,
                    ..
                } => 1 + Field::len(auth_protocol) + Field::len(auth_cookie) + 4,
                K::Env { name, value } => Field::len(name) + Field::len(value),
                K::Shell | K::AuthAgentReq | K::EndOfWrite | K::Keepalive => 0,
                K::Exec { command } => string_len(command.len()),
                K::Subsystem { name } | K::Signal { name } => Field::len(name),
                K::WindowChange { .. } => 16,
                K::XonXoff { .. } => 1,
                K::ExitStatus { .. } | K::Break { .. } => 4,
                K::ExitSignal {
                    signal,
                    message,
                    language,
                    ..
                } => Field::len(signal) + 1 + Field::len(message) + Field::len(language),
                K::Other { data, .. } => data.len(),
            }
    }

    fn write_body<B: BufMut + ?Sized>(&self, out: &mut B) {
        use ChannelRequestKind as K;
        out.put_u32(self.recipient);
        out.put_ssh_string(self.kind.name());
        out.put_ssh_bool(self.want_reply);
        match &self.kind {
            K::PtyReq {
                term,
                columns,
                rows,
                width_px,
                height_px,
                modes,
            } => {
                out.put_ssh_string(term.as_bytes());
                out.put_u32(*columns);
                out.put_u32(*rows);
                out.put_u32(*width_px);
                out.put_u32(*height_px);
                out.put_ssh_string(modes);
            }
            K::X11Req {
                single_connection,
                auth_protocol,
                auth_cookie,
                screen,
            } => {
                out.put_ssh_bool(*single_connection);
                out.put_ssh_string(auth_protocol.as_bytes());
                out.put_ssh_string(auth_cookie.as_bytes());
                out.put_u32(*screen);
            }
            K::Env { name, value } => {
                out.put_ssh_string(name.as_bytes());
                out.put_ssh_string(value.as_bytes());
            }
            K::Shell | K::AuthAgentReq | K::EndOfWrite | K::Keepalive => {}
            K::Exec { command } => out.put_ssh_string(command),
            K::Subsystem { name } | K::Signal { name } => out.put_ssh_string(name.as_bytes()),
            K::WindowChange {
                columns,
                rows,
                width_px,
                height_px,
            } => {
                out.put_u32(*columns);
                out.put_u32(*rows);
                out.put_u32(*width_px);
                out.put_u32(*height_px);
            }
            K::XonXoff { client_can_do } => out.put_ssh_bool(*client_can_do),
            K::ExitStatus { status: v } | K::Break { length_ms: v } => out.put_u32(*v),
            K::ExitSignal {
                signal,
                core_dumped,
                message,
                language,
            } => {
                out.put_ssh_string(signal.as_bytes());
                out.put_ssh_bool(*core_dumped);
                out.put_ssh_string(message.as_bytes());
                out.put_ssh_string(language.as_bytes());
            }
            K::Other { data, .. } => out.put_slice(data),
        }
    }
}
