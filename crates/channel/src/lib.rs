//! The SSH connection protocol (RFC 4254) without I/O: channels, their flow control, channel
//! requests and global requests, for either role.
//!
//! [`Channels`] is the state machine of one connection. The transport hands it each decoded
//! connection-protocol message ([`Channels::handle_message`]); the application drives it with
//! commands ([`Channels::open`], [`Channels::write`], [`Channels::read`], ...); messages to
//! send come out of [`Channels::poll_transmit`] and what happened out of
//! [`Channels::poll_event`]. Decisions the peer waits for (a channel open, a want-reply
//! request) are owned tokens ([`IncomingChannel`], [`RequestToken`], [`GlobalRequestToken`])
//! the application answers whenever it is ready.
//!
//! ```
//! use whelk_channel::{ChannelConfig, Channels, Config, Event, Role};
//! use whelk_wire::msg::{ChannelOpenKind, Message};
//!
//! let mut client = Channels::new(Role::Client, Config::default());
//! let mut server = Channels::new(Role::Server, Config::default());
//!
//! // Everything one side sends goes to the other through the wire encoding.
//! fn pump(from: &mut Channels, to: &mut Channels) -> Result<bool, Box<dyn std::error::Error>> {
//!     let mut moved = false;
//!     while let Some(msg) = from.poll_transmit() {
//!         let bytes = msg.to_bytes()?;
//!         to.handle_message(Message::decode(&bytes)?)?;
//!         moved = true;
//!     }
//!     Ok(moved)
//! }
//!
//! let ch = client.open(ChannelOpenKind::Session, ChannelConfig::default())?;
//! pump(&mut client, &mut server)?;
//!
//! // The server is asked, and accepts.
//! let Some(Event::OpenRequest(incoming)) = server.poll_event() else { panic!() };
//! assert_eq!(incoming.kind(), &ChannelOpenKind::Session);
//! let sch = server.accept(incoming, ChannelConfig::default())?;
//! pump(&mut server, &mut client)?;
//! assert!(matches!(client.poll_event(), Some(Event::OpenConfirmed { id }) if id == ch));
//!
//! // The client writes; the server reads the bytes as they came off the wire.
//! assert_eq!(client.write(ch, b"hello")?, 5);
//! pump(&mut client, &mut server)?;
//! assert!(matches!(server.poll_event(), Some(Event::Data { id }) if id == sch));
//! assert_eq!(server.read(sch, 1024).as_deref(), Some(&b"hello"[..]));
//!
//! // Closing: the server answers the client's CLOSE by itself.
//! client.close(ch)?;
//! pump(&mut client, &mut server)?;
//! assert!(matches!(server.poll_event(), Some(Event::Closed { id }) if id == sch));
//! pump(&mut server, &mut client)?;
//! assert!(matches!(client.poll_event(), Some(Event::Closed { id }) if id == ch));
//! assert_eq!((client.channel_count(), server.channel_count()), (0, 0));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Channels and their lifetime
//!
//! Our channel numbers are allocated lowest-free-first and reused, as OpenSSH does, but only
//! once both CLOSE messages have crossed (RFC 4254 §5.3) and the application has read what
//! was buffered. A [`ChannelId`] also carries a serial that is never reused, so a stale id
//! names nothing rather than a newer channel.
//!
//! - **EOF** ([`Channels::eof`]) goes out after every byte written before it; the other
//!   direction stays open. The peer's EOF is [`Event::Eof`].
//! - **CLOSE** ([`Channels::close`]) goes out after the queued data (and after EOF, if
//!   requested). When the peer's CLOSE arrives first, ours is sent at once, unsent data is
//!   dropped, and [`Event::Closed`] is reported. The id lives on until both CLOSEs have
//!   crossed and the buffered data is read.
//! - A peer may still send data for a channel we have closed before it sees our CLOSE: that
//!   data is dropped silently.
//!
//! # Flow control
//!
//! - **Sending**: [`Channels::write`] copies into a per-channel queue bounded by
//!   `min(send_buffer, peer window)` and returns how much it took (0 = blocked, then
//!   [`Event::Writable`]). [`Channels::poll_transmit`] cuts each data message at send time to
//!   at most the peer's current window and maximum packet size (the latter clamped to
//!   [`Config::max_send_packet`], 32 KiB by default, whatever the peer claims), so the peer's
//!   limits are never exceeded and nothing is ever sent in empty messages.
//! - **Receiving**: data is kept as the [`bytes::Bytes`] slices the wire decoder cut from the
//!   decrypted packet and handed out by [`Channels::read`] without a copy. The window is
//!   credited back only as the application reads; a `WINDOW_ADJUST` is queued once half of
//!   the window has been read (h2 and sunset use the same 1/2 ratio), so buffered data never
//!   exceeds the advertised window: a slow reader slows the sender instead of growing memory.
//!   Defaults are 2 MiB windows and 32 KiB packets ([`ChannelConfig`]), per channel.
//!
//! # Peer errors and limits
//!
//! See [`Error`] for the three classes. Choices where implementations differ:
//!
//! - Data beyond the window is fatal with no grace (OpenSSH tolerates 10%): a conforming
//!   peer never overshoots, and memory stays bounded by the window exactly.
//! - A data message larger than our maximum packet size is fatal (OpenSSH drops it).
//! - A `WINDOW_ADJUST` past 2^32-1 is fatal, as in OpenSSH.
//! - A message for a channel number we never allocated, or already released, is fatal
//!   (OpenSSH: "packet referred to nonexistent channel"); so are open confirmations and
//!   failures for a channel we are not opening, and messages for a channel not yet confirmed.
//! - A second CLOSE, data or requests after the peer's CLOSE, and data or a second EOF after
//!   the peer's EOF are dropped with a channel-scoped error while we still hold the channel
//!   (idempotent: nothing changes); after the id is released they are messages for a
//!   nonexistent channel.
//! - A peer maximum packet of 0 is refused: `CONNECT_FAILED` for its open, fatal in an open
//!   confirmation (no data could ever be sent).
//! - Unanswered replies stack up in order; more than [`Config::max_pending_requests`] is
//!   fatal (the connection owning this value should also time decisions out).
//! - Answers this layer owes the peer (open failures, request replies) wait for
//!   [`Channels::poll_transmit`]; a peer that keeps asking while not reading them would grow
//!   that queue, so past [`Config::max_backlog`] messages a further request is fatal
//!   ([`Channels::backlog`]; the class of OpenSSH CVE-2025-26466).
//!
//! Opens this layer refuses by itself: unknown types (`UNKNOWN_CHANNEL_TYPE`); types the
//! peer's role may not open, or that we did not ask for on the client (`x11` without an
//! `x11-req`, `auth-agent@openssh.com` without `auth-agent-req@openssh.com`,
//! `forwarded-tcpip` / `forwarded-streamlocal@openssh.com` for a forward not granted;
//! catalog C13), and sessions after `no-more-sessions@openssh.com`
//! (`ADMINISTRATIVELY_PROHIBITED`); more than [`Config::max_channels`] channels or
//! [`Config::max_sessions`] peer sessions (`RESOURCE_SHORTAGE`). Refused channels take no
//! slot.
//!
//! Requests this layer answers with FAILURE itself: unknown channel and global requests,
//! `keepalive@openssh.com` (as OpenSSH), requests that are not for this role or channel type
//! (e.g. `exec` sent by a server, `shell` on a `direct-tcpip` channel), `env` beyond
//! [`Config::max_env_requests`], and strings longer than [`Config::max_request_string`] or
//! containing NUL (catalog C10). `no-more-sessions@openssh.com` is honoured by the server
//! layer itself. Terminal modes of `pty-req` are decoded with [`TerminalModes`].
//!
//! # Where this differs from the first design sketch
//!
//! - `write` never queues more than the peer's current window (besides the `send_buffer`
//!   cap): data beyond the window could not be sent anyway, and this way `write`'s return
//!   value is the back-pressure signal the adapters need. As a consequence EOF and CLOSE are
//!   never stuck behind data for long.
//! - Channel requests and replies overtake queued data (as in OpenSSH, where requests are sent
//!   at once while data waits in channel buffers); EOF and CLOSE never do.
//! - Data availability events are edge-triggered with re-arming on `read` (one outstanding
//!   `Data` event per channel), so data events are bounded by the number of channels rather
//!   than the number of packets.
//! - `keepalive@openssh.com`, unknown requests and requests for the wrong role or channel type
//!   are answered here, so the application only sees requests it can act on.
//!
//! The layer is `no_std` + `alloc`.
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

extern crate alloc;

mod channels;
mod config;
mod error;
mod modes;

#[doc(hidden)]
pub mod fuzzing;

pub use channels::{
    ChannelId, Channels, Event, GlobalReply, GlobalRequestId, GlobalRequestToken, IncomingChannel,
    RequestId, RequestToken,
};
pub use config::{
    ChannelConfig, Config, DEFAULT_MAX_PACKET, DEFAULT_WINDOW, MAX_MAX_PACKET, MIN_MAX_PACKET, Role,
};
pub use error::{Error, ErrorKind, Result};
pub use modes::{ModesError, Opcode, TerminalModes};
