//! What the runtime tells the operator about trouble on the network.

use std::sync::Arc;
use std::time::Duration;

use trellis_frames::Transport;

/// Something worth telling the operator; each is reported once (per
/// destination or relation) until the situation changes.
#[derive(Debug, Clone, PartialEq)]
pub enum Warning {
    /// A destination address that does not resolve.
    Unresolvable {
        destination: Arc<str>,
        reason: String,
    },
    /// A tuple too large for one frame of this transport.
    Oversize {
        destination: Arc<str>,
        relation: Arc<str>,
        bytes: usize,
        limit: usize,
        transport: Transport,
    },
    /// A datagram the socket would not send.
    SendFailed {
        destination: Arc<str>,
        error: String,
    },
    /// TCP: a connection could not be opened; frames are dropped (and
    /// counted) until the retry.
    ConnectFailed {
        destination: Arc<str>,
        error: String,
        retry_in: Duration,
    },
    /// TCP: an open connection broke.
    ConnectionLost {
        destination: Arc<str>,
        error: String,
    },
    /// TCP: connected again after trouble.
    Reconnected { destination: Arc<str> },
    /// A received or injected tuple the node refused.
    Refused {
        sender: Arc<str>,
        relation: Arc<str>,
        error: String,
    },
    /// More warnings about destinations this minute than the limit: the
    /// rest are counted, not shown.
    Suppressed { per_minute: usize },
}

impl Warning {
    /// Warnings with the same key are reported once.
    pub(crate) fn key(&self) -> String {
        match self {
            Warning::Unresolvable { destination, .. } => format!("resolve {destination}"),
            Warning::Oversize {
                destination,
                relation,
                ..
            } => format!("oversize {relation} {destination}"),
            Warning::SendFailed { destination, .. } => format!("send {destination}"),
            Warning::ConnectFailed { destination, .. }
            | Warning::ConnectionLost { destination, .. } => format!("conn {destination}"),
            Warning::Reconnected { destination } => format!("reconnected {destination}"),
            Warning::Refused {
                sender, relation, ..
            } => format!("refused {sender} {relation}"),
            Warning::Suppressed { .. } => "suppressed".to_string(),
        }
    }

    /// About a destination that tuples named: as many as senders make up,
    /// so shown at a bounded rate.
    pub(crate) fn is_about_a_destination(&self) -> bool {
        matches!(
            self,
            Warning::Unresolvable { .. }
                | Warning::Oversize { .. }
                | Warning::SendFailed { .. }
                | Warning::ConnectFailed { .. }
                | Warning::ConnectionLost { .. }
        )
    }

    /// A short name for JSON output.
    pub fn kind(&self) -> &'static str {
        match self {
            Warning::Unresolvable { .. } => "unresolvable",
            Warning::Oversize { .. } => "oversize",
            Warning::SendFailed { .. } => "send_failed",
            Warning::ConnectFailed { .. } => "connect_failed",
            Warning::ConnectionLost { .. } => "connection_lost",
            Warning::Reconnected { .. } => "reconnected",
            Warning::Refused { .. } => "refused",
            Warning::Suppressed { .. } => "suppressed",
        }
    }
}

impl std::fmt::Display for Warning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Warning::Unresolvable {
                destination,
                reason,
            } => write!(
                f,
                "cannot resolve destination `{destination}` ({reason}); its tuples are dropped and counted"
            ),
            Warning::Oversize {
                destination,
                relation,
                bytes,
                limit,
                transport,
            } => write!(
                f,
                "a `{relation}` tuple for {destination} takes {bytes} bytes, more than a {transport} frame carries ({limit}); it was refused (and counted)"
            ),
            Warning::SendFailed { destination, error } => {
                write!(f, "sending to {destination} failed: {error}")
            }
            Warning::ConnectFailed {
                destination,
                error,
                retry_in,
            } => write!(
                f,
                "cannot connect to {destination} ({error}); tuples for it are dropped and counted, next attempt in {:.1}s (backing off)",
                retry_in.as_secs_f64()
            ),
            Warning::ConnectionLost { destination, error } => {
                write!(
                    f,
                    "connection to {destination} lost ({error}); reconnecting"
                )
            }
            Warning::Reconnected { destination } => write!(f, "connected to {destination} again"),
            Warning::Refused {
                sender,
                relation,
                error,
            } => write!(
                f,
                "refused a `{relation}` tuple from {sender}: {error} (counted in dropped_inputs)"
            ),
            Warning::Suppressed { per_minute } => write!(
                f,
                "more than {per_minute} warnings about destinations this minute; the rest are counted (warnings_suppressed), not shown"
            ),
        }
    }
}
