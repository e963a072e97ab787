//! Errors of the connection protocol layer.
//!
//! Three kinds, told apart by [`Error::is_fatal`] and [`Error::kind`]:
//!
//! - **Connection-fatal** ([`ErrorKind::Fatal`]): the peer broke a rule that leaves no sane way
//!   to continue (data on a channel that does not exist, data beyond the window, a window
//!   overflow...). The error *latches*: every later call returns it again, `poll_transmit`
//!   produces nothing more, and the caller disconnects with
//!   [`Error::disconnect_reason`] (always `SSH_DISCONNECT_PROTOCOL_ERROR`).
//! - **Channel-scoped** ([`ErrorKind::Channel`]): the peer sent something pointless but harmless
//!   for one channel (a second CLOSE, data after its own EOF, a request after its own CLOSE).
//!   The message is dropped; that channel and every other channel carry on. The caller may log
//!   it.
//! - **Usage** ([`ErrorKind::Usage`]): the application asked for something impossible (a
//!   stale [`ChannelId`], a write after `eof`, more channels than the limit). Nothing changes.

use whelk_wire::msg::DisconnectReason;

use crate::ChannelId;

/// Which of the three classes an [`Error`] belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The connection must be torn down; the error latches.
    Fatal,
    /// One message for one channel was dropped; everything else goes on.
    Channel,
    /// A command of the application was refused; nothing changed.
    Usage,
}

/// Everything that can go wrong in the connection protocol layer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    // ----- connection-fatal: the peer broke the protocol -----
    /// A message named a channel number we never allocated or have already released
    /// (OpenSSH: "packet referred to nonexistent channel"). Catalog C04/M06.
    #[error("{message} for nonexistent channel {number}")]
    UnknownChannel {
        /// The recipient channel number the peer sent.
        number: u32,
        /// The message name.
        message: &'static str,
    },
    /// A message addressed a channel that is not open yet (the peer cannot know the number of
    /// a channel it has not confirmed, nor send on a channel it has not confirmed).
    #[error("{message} for channel {number}, which is not open")]
    NotOpen {
        /// The recipient channel number.
        number: u32,
        /// The message name.
        message: &'static str,
    },
    /// `CHANNEL_OPEN_CONFIRMATION` or `CHANNEL_OPEN_FAILURE` for a channel we did not open or
    /// that is already confirmed. Catalog C06.
    #[error("{message} for channel {number}, which is not being opened")]
    UnexpectedOpenReply {
        /// The recipient channel number.
        number: u32,
        /// The message name.
        message: &'static str,
    },
    /// The peer sent more data than the window we advertised (we allow no grace). Catalog C02.
    #[error("channel {number}: {len} bytes of data exceed the window of {window}")]
    WindowExceeded {
        /// The channel number.
        number: u32,
        /// Bytes in the message.
        len: usize,
        /// The window that was left.
        window: u32,
    },
    /// One data message was larger than the maximum packet size we advertised. Catalog C03.
    #[error("channel {number}: {len} bytes of data exceed the maximum packet size {max}")]
    PacketTooLarge {
        /// The channel number.
        number: u32,
        /// Bytes in the message.
        len: usize,
        /// Our maximum packet size.
        max: u32,
    },
    /// `CHANNEL_WINDOW_ADJUST` would take the window past 2^32-1 (RFC 4254 §5.2). Catalog C01.
    #[error("channel {number}: window adjust of {add} overflows the window of {window}")]
    WindowOverflow {
        /// The channel number.
        number: u32,
        /// The window before the adjust.
        window: u32,
        /// The bytes to add the peer sent.
        add: u32,
    },
    /// The peer confirmed a channel with a maximum packet size of 0, on which no data could
    /// ever be sent.
    #[error("channel {number}: peer maximum packet size of 0")]
    ZeroMaxPacket {
        /// The channel number.
        number: u32,
    },
    /// The peer has more want-reply requests outstanding than [`crate::Config`] allows
    /// (`max_pending_requests`), on one channel or globally.
    #[error("more than {max} unanswered requests")]
    TooManyPendingRequests {
        /// The limit.
        max: usize,
    },

    /// The peer keeps sending requests that need an answer while our answers pile up unsent
    /// (it does not read, or the connection does not transmit); see
    /// [`crate::Channels::backlog`].
    #[error("more than {max} control messages waiting to be sent")]
    BacklogExceeded {
        /// The limit.
        max: usize,
    },

    // ----- channel-scoped: harmless peer misbehaviour, message dropped -----
    /// The peer sent something on a channel after its own CHANNEL_CLOSE (a second CLOSE,
    /// data, a request, a window adjust). OpenSSH logs "close rcvd twice". Catalog C05.
    #[error("channel {id}: {message} after the peer closed the channel")]
    AfterPeerClose {
        /// The channel.
        id: ChannelId,
        /// The message name.
        message: &'static str,
    },
    /// The peer sent data or a second EOF after its own CHANNEL_EOF. Catalog C05.
    #[error("channel {id}: {message} after the peer's EOF")]
    AfterPeerEof {
        /// The channel.
        id: ChannelId,
        /// The message name.
        message: &'static str,
    },

    // ----- usage: the application's command was refused -----
    /// The id names no live channel (never opened, or closed and released).
    #[error("no channel {0}")]
    NoSuchChannel(ChannelId),
    /// The channel is not in a state that allows this command (e.g. `accept` twice).
    #[error("channel {0} does not allow this now")]
    InvalidState(ChannelId),
    /// Writing after `eof` or `close`.
    #[error("channel {0}: writing after EOF or close")]
    WriteAfterEof(ChannelId),
    /// The peer has closed the channel: nothing more can be sent on it.
    #[error("channel {0} was closed by the peer")]
    ClosedByPeer(ChannelId),
    /// Opening another channel would exceed `max_channels`.
    #[error("channel limit of {max} reached")]
    TooManyChannels {
        /// The limit.
        max: usize,
    },
    /// `handle_message` was given a message that is not part of the connection protocol.
    #[error("message {number} is not a connection protocol message")]
    NotConnectionMessage {
        /// Its number.
        number: u8,
    },
}

impl Error {
    /// Which class the error belongs to.
    #[must_use]
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::UnknownChannel { .. }
            | Self::NotOpen { .. }
            | Self::UnexpectedOpenReply { .. }
            | Self::WindowExceeded { .. }
            | Self::PacketTooLarge { .. }
            | Self::WindowOverflow { .. }
            | Self::ZeroMaxPacket { .. }
            | Self::TooManyPendingRequests { .. }
            | Self::BacklogExceeded { .. } => ErrorKind::Fatal,
            Self::AfterPeerClose { .. } | Self::AfterPeerEof { .. } => ErrorKind::Channel,
            Self::NoSuchChannel(_)
            | Self::InvalidState(_)
            | Self::WriteAfterEof(_)
            | Self::ClosedByPeer(_)
            | Self::TooManyChannels { .. }
            | Self::NotConnectionMessage { .. } => ErrorKind::Usage,
        }
    }

    /// Whether the connection must be torn down.
    #[must_use]
    pub fn is_fatal(&self) -> bool {
        self.kind() == ErrorKind::Fatal
    }

    /// The `SSH_MSG_DISCONNECT` reason to send for a fatal error; `None` for the others. The
    /// whole mapping lives here.
    #[must_use]
    pub fn disconnect_reason(&self) -> Option<DisconnectReason> {
        match self.kind() {
            ErrorKind::Fatal => Some(DisconnectReason::PROTOCOL_ERROR),
            ErrorKind::Channel | ErrorKind::Usage => None,
        }
    }
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = core::result::Result<T, E>;
