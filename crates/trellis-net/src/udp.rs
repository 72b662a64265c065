//! UDP: one socket per node, for receiving and sending (so replies come
//! from the node's own port). Frames are decoded on the receiving task.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::UdpSocket;
use trellis_frames::Transport;

use crate::config::NetError;
use crate::inbound::{Delivery, Inbound};

/// Kernel buffers we ask for (the kernel may grant less).
const SOCKET_BUFFER: usize = 4 << 20;

pub(crate) fn bind(addr: SocketAddr) -> Result<UdpSocket, NetError> {
    let err = |source| NetError::Bind {
        transport: Transport::Udp,
        addr,
        source,
    };
    let domain = socket2::Domain::for_address(addr);
    let socket = socket2::Socket::new(domain, socket2::Type::DGRAM, Some(socket2::Protocol::UDP))
        .map_err(err)?;
    // Bigger buffers lose fewer datagrams under bursts; best effort.
    let _ = socket.set_recv_buffer_size(SOCKET_BUFFER);
    let _ = socket.set_send_buffer_size(SOCKET_BUFFER);
    socket.set_nonblocking(true).map_err(err)?;
    socket.bind(&addr.into()).map_err(err)?;
    UdpSocket::from_std(socket.into()).map_err(err)
}

/// Receive, decode, hand over; count what does not decode.
pub(crate) async fn receive(socket: Arc<UdpSocket>, inbound: Inbound) {
    let mut buf = vec![0u8; 65_536];
    loop {
        match socket.recv_from(&mut buf).await {
            Ok((n, _from)) => {
                if inbound.frame(&buf[..n], n, Transport::Udp).await == Delivery::Stopped {
                    return;
                }
            }
            Err(e) => {
                inbound.counters().lock().receive_errors += 1;
                // ICMP errors surface here on some systems: carry on. Back
                // off a little on anything else so a persistent error does
                // not spin.
                if !matches!(
                    e.kind(),
                    std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::ConnectionRefused
                ) {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }
    }
}
