//! One-shot sending, for `trellis inject`: one frame to one node.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use trellis_frames::Transport;
use trellis_wire::{ClusterKey, Signing, WireMessage};

use crate::config::{NetError, resolve};
use crate::tcp::ACK;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long to wait for the node's acknowledgement (a node under load may
/// take a while to read the frame).
const ACK_TIMEOUT: Duration = Duration::from_secs(30);

/// Send `messages` to the node at `address` in one frame from `sender`;
/// returns the frame's size in bytes. Over UDP this is fire-and-forget;
/// over TCP the node has taken the frame: read it whole, checked it (its
/// key, its limits), decoded it and queued it for its node, as it says in
/// its acknowledgement when the stream ends ([`NotTaken`] otherwise). With
/// a key, the frame is the first of a stream whose epoch is the wall
/// clock's nanoseconds (so a later one-shot sender of the same name starts
/// a later stream).
///
/// [`NotTaken`]: NetError::NotTaken
pub async fn send_once(
    address: &str,
    transport: Transport,
    key: Option<&ClusterKey>,
    sender: &str,
    messages: &[WireMessage],
) -> Result<usize, NetError> {
    let signing = key.map(|key| Signing {
        key: key.clone(),
        stream: transport.stream(),
        first_epoch: crate::WallClock::start().origin(),
    });
    let bytes = trellis_wire::encode(sender, address, messages, signing.as_ref());
    let limit = transport.frame_limit();
    if bytes.len() > limit {
        return Err(NetError::Oversize {
            relation: messages
                .first()
                .map_or_else(String::new, |m| m.relation.to_string()),
            bytes: bytes.len(),
            limit,
            transport,
        });
    }
    let target = resolve(address).await?;
    let send_err = |source| NetError::Send {
        address: address.to_string(),
        source,
    };
    match transport {
        Transport::Udp => {
            let local: std::net::SocketAddr = if target.is_ipv4() {
                ([0, 0, 0, 0], 0).into()
            } else {
                (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
            };
            let socket = UdpSocket::bind(local).await.map_err(send_err)?;
            socket.send_to(&bytes, target).await.map_err(send_err)?;
        }
        Transport::Tcp => {
            let mut stream =
                match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(target)).await {
                    Ok(Ok(s)) => s,
                    Ok(Err(source)) => {
                        return Err(NetError::Connect {
                            address: address.to_string(),
                            source,
                        });
                    }
                    Err(_) => {
                        return Err(NetError::ConnectTimeout {
                            address: address.to_string(),
                        });
                    }
                };
            let mut framed = Vec::with_capacity(bytes.len() + 4);
            framed.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
            framed.extend_from_slice(&bytes);
            stream.write_all(&framed).await.map_err(send_err)?;
            stream.shutdown().await.map_err(send_err)?;
            let not_taken = |reason| NetError::NotTaken {
                address: address.to_string(),
                reason,
            };
            let mut answer = Vec::new();
            let read =
                tokio::time::timeout(ACK_TIMEOUT, (&mut stream).take(64).read_to_end(&mut answer))
                    .await;
            match read {
                Err(_) => return Err(not_taken("no acknowledgement within 30 s")),
                // A node that refused the connection may reset it.
                Ok(Err(_)) | Ok(Ok(_)) if answer.len() != 8 || &answer[..4] != ACK => {
                    return Err(not_taken(
                        "it closed the connection without acknowledging it (at its connection limit, or not a Trellis node)",
                    ));
                }
                Ok(_) => {
                    let taken = u32::from_be_bytes(answer[4..].try_into().expect("4 bytes"));
                    if taken != 1 {
                        return Err(not_taken(
                            "it dropped the frame (wrong cluster key, or over a limit: see its summary's decode_errors)",
                        ));
                    }
                }
            }
        }
    }
    Ok(bytes.len())
}
