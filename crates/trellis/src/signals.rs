//! Ctrl-C and SIGTERM as a stream of stop requests.
//!
//! The handlers are registered once, when `StopSignals` is made, and kept
//! for the life of the process: a signal that arrives while the caller is
//! busy elsewhere is queued, never lost. (Registering anew inside a loop
//! misses any signal that lands between two registrations; since the OS
//! handler stays installed, the process then ignores SIGTERM for good.)

use tokio::signal::unix::{Signal, SignalKind, signal};

/// What asked the process to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopRequest {
    Interrupt,
    Terminate,
}

impl StopRequest {
    pub fn as_str(self) -> &'static str {
        match self {
            StopRequest::Interrupt => "interrupt",
            StopRequest::Terminate => "terminate",
        }
    }
}

pub struct StopSignals {
    interrupt: Option<Signal>,
    terminate: Option<Signal>,
}

impl StopSignals {
    /// Register both handlers; needs a running tokio runtime. A handler
    /// that cannot be registered leaves that signal's default action.
    pub fn register() -> StopSignals {
        StopSignals {
            interrupt: signal(SignalKind::interrupt()).ok(),
            terminate: signal(SignalKind::terminate()).ok(),
        }
    }

    /// The next stop request (pending forever if neither is registered).
    pub async fn next(&mut self) -> StopRequest {
        async fn recv(s: &mut Option<Signal>) {
            // A closed stream (the runtime shutting down) stops nothing.
            let received = match s {
                Some(s) => s.recv().await.is_some(),
                None => false,
            };
            if !received {
                std::future::pending::<()>().await;
            }
        }
        tokio::select! {
            _ = recv(&mut self.interrupt) => StopRequest::Interrupt,
            _ = recv(&mut self.terminate) => StopRequest::Terminate,
        }
    }
}

/// Stop requests for a driver that runs without tokio (`trellis run
/// --transport none`, `trellis sim`): the handlers are registered before
/// this returns, and a thread of their own hands each request over.
pub fn stop_requests() -> std::io::Result<std::sync::mpsc::Receiver<StopRequest>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut signals = {
        let _inside = runtime.enter();
        StopSignals::register()
    };
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .name("stop-signals".into())
        .spawn(move || {
            runtime.block_on(async {
                loop {
                    if tx.send(signals.next().await).is_err() {
                        break;
                    }
                }
            })
        })?;
    Ok(rx)
}
