//! Limits and per-channel settings, with their defaults and the reasons for them.

/// Which side of the connection this is. It decides which channel types and requests the
/// peer may initiate (RFC 4254: sessions are opened by the client, `forwarded-tcpip` by the
/// server, and so on).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// The SSH client.
    Client,
    /// The SSH server.
    Server,
}

/// The default receive window: 2 MiB, as OpenSSH (`CHAN_SES_WINDOW_DEFAULT`) and russh.
pub const DEFAULT_WINDOW: u32 = 2 * 1024 * 1024;
/// The default maximum packet (data bytes per message): 32 KiB, as OpenSSH, libssh and Go.
pub const DEFAULT_MAX_PACKET: u32 = 32 * 1024;
/// The largest maximum packet we advertise or send: every transport must accept packets whose
/// payload is up to 32768 bytes (RFC 4253 §6.1); whelk's transport accepts 256 KiB, and this
/// leaves room for the message header and the packet overhead.
pub const MAX_MAX_PACKET: u32 = 256 * 1024 - 1024;
/// The smallest maximum packet we advertise.
pub const MIN_MAX_PACKET: u32 = 1024;

/// Settings of one channel, chosen when it is opened or accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ChannelConfig {
    /// The receive window we advertise, and re-open as the application reads. It bounds the
    /// inbound data buffered for this channel. Default [`DEFAULT_WINDOW`]; at least 1.
    pub window: u32,
    /// The largest data message we accept. Default [`DEFAULT_MAX_PACKET`]; clamped to
    /// [`MIN_MAX_PACKET`]..=[`MAX_MAX_PACKET`].
    pub max_packet: u32,
    /// How many bytes `write` may queue before it reports back-pressure (returns a short
    /// count). The send queue also never exceeds what the peer's window lets us send.
    /// Default 256 KiB; at least 1.
    pub send_buffer: usize,
}

impl Default for ChannelConfig {
    fn default() -> Self {
        Self {
            window: DEFAULT_WINDOW,
            max_packet: DEFAULT_MAX_PACKET,
            send_buffer: 256 * 1024,
        }
    }
}

impl ChannelConfig {
    /// The defaults with another window.
    #[must_use]
    pub fn with_window(mut self, window: u32) -> Self {
        self.window = window;
        self
    }

    /// The defaults with another maximum packet size.
    #[must_use]
    pub fn with_max_packet(mut self, max_packet: u32) -> Self {
        self.max_packet = max_packet;
        self
    }

    /// The defaults with another send buffer size.
    #[must_use]
    pub fn with_send_buffer(mut self, send_buffer: usize) -> Self {
        self.send_buffer = send_buffer;
        self
    }

    /// The settings with every value brought inside its range.
    #[must_use]
    pub(crate) fn clamped(self) -> Self {
        Self {
            window: self.window.max(1),
            max_packet: self.max_packet.clamp(MIN_MAX_PACKET, MAX_MAX_PACKET),
            send_buffer: self.send_buffer.max(1),
        }
    }
}

/// Connection-wide limits. The defaults follow OpenSSH where it has one (see the security
/// catalog, limits table rows "Channels" and "Window / max packet").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// Channels alive at once, both directions, including ones closing or waiting for an
    /// answer. Beyond it the peer's opens fail with `RESOURCE_SHORTAGE` and ours with
    /// [`crate::Error::TooManyChannels`]. Default 1024 (OpenSSH's hard limit is 16384).
    pub max_channels: usize,
    /// Session channels the peer may have open at once (OpenSSH `MaxSessions`). Default 10.
    pub max_sessions: usize,
    /// Want-reply requests from the peer the application has not answered yet, per channel
    /// and for global requests separately. Replies must go out in order, so an unanswered
    /// request holds back every later reply; a peer that piles up more than this is cut off
    /// ([`crate::Error::TooManyPendingRequests`]). Default 64.
    pub max_pending_requests: usize,
    /// `env` requests per channel handed to the application; later ones are answered with
    /// FAILURE by this layer (catalog C10). Default 64.
    pub max_env_requests: usize,
    /// Longest name-like string (`env` name and value, subsystem, signal, `TERM`) and longest
    /// `exec` command a request may carry; longer ones, and ones containing NUL, are answered
    /// with FAILURE by this layer (catalog C10). Default 32 KiB.
    pub max_request_string: usize,
    /// Control messages waiting to be sent ([`crate::Channels::backlog`]) beyond which a peer
    /// request that needs an answer is fatal ([`crate::Error::BacklogExceeded`]): a peer
    /// flooding requests while not reading our answers cannot grow our memory without bound
    /// (the class of OpenSSH CVE-2025-26466). Default 4096.
    pub max_backlog: usize,
    /// Upper bound on the data bytes we put in one message, whatever the peer's maximum packet
    /// says. Default [`DEFAULT_MAX_PACKET`]; clamped to [`MAX_MAX_PACKET`].
    pub max_send_packet: u32,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            max_channels: 1024,
            max_sessions: 10,
            max_pending_requests: 64,
            max_env_requests: 64,
            max_request_string: 32 * 1024,
            max_backlog: 4096,
            max_send_packet: DEFAULT_MAX_PACKET,
        }
    }
}
