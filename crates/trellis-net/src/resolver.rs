//! Names to socket addresses, off the driver's loop: a destination that is
//! not a literal address is looked up by a task (bounded by a timeout), and
//! the datagrams for it wait in a bounded queue meanwhile, so a slow
//! resolver delays only the frames for that name, never the node. Answers
//! are cached (a bounded number of names); a known name is looked up again
//! in the background after [`REFRESH`], its old address used meanwhile; a
//! failure is remembered for [`RETRY`], and datagrams for the name are lost
//! (counted) until then.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

/// A known name is looked up again after this long.
pub const REFRESH: Duration = Duration::from_secs(60);
/// A name that failed to resolve is tried again after this long.
pub const RETRY: Duration = Duration::from_secs(5);

/// Looks names up: the system's resolver ([`SystemResolver`]), or a
/// test's.
pub trait Resolve: Send + Sync + 'static {
    /// The addresses of `host:port`.
    fn lookup(
        &self,
        name: &str,
    ) -> Pin<Box<dyn Future<Output = io::Result<Vec<SocketAddr>>> + Send>>;
}

/// The operating system's resolver (`getaddrinfo`, on tokio's blocking
/// pool), through [`tokio::net::lookup_host`].
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemResolver;

impl Resolve for SystemResolver {
    fn lookup(
        &self,
        name: &str,
    ) -> Pin<Box<dyn Future<Output = io::Result<Vec<SocketAddr>>> + Send>> {
        let name = name.to_string();
        Box::pin(async move { Ok(tokio::net::lookup_host(name).await?.collect()) })
    }
}

/// How name resolution is bounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResolveLimits {
    /// A lookup that takes longer fails.
    pub timeout: Duration,
    /// Names cached (known, failed or being looked up).
    pub names: usize,
    /// Datagrams waiting for one name's lookup; more are lost.
    pub queue: usize,
}

impl Default for ResolveLimits {
    fn default() -> ResolveLimits {
        ResolveLimits {
            timeout: Duration::from_secs(5),
            names: 4096,
            queue: 256,
        }
    }
}

/// A datagram waiting for its destination's address: its bytes and how
/// many tuples it holds.
pub(crate) type Parked = (Vec<u8>, u64);

enum Entry {
    Known {
        addr: SocketAddr,
        /// When to look the name up again (in the background).
        refresh_at: Instant,
        refreshing: bool,
    },
    Failed {
        reason: String,
        retry_at: Instant,
    },
    Pending(VecDeque<Parked>),
}

/// Where a datagram for a destination stands.
pub(crate) enum Lookup {
    /// Send it there.
    Ready(SocketAddr, Parked),
    /// Parked until the name resolves.
    Parked,
    /// Not sent, for this reason (the datagram is handed back).
    Lost(Parked, LostWhy),
}

pub(crate) enum LostWhy {
    Unresolvable(String),
    /// Too many datagrams wait for this name, or names for the cache.
    QueueFull,
}

/// A finished lookup: the name and its address (or why not).
pub(crate) type Answer = (Arc<str>, Result<SocketAddr, String>);

/// The driver's names: cached, being looked up, failed.
pub(crate) struct Names {
    resolver: Arc<dyn Resolve>,
    limits: ResolveLimits,
    entries: HashMap<Arc<str>, Entry>,
    answers: mpsc::UnboundedSender<Answer>,
}

impl Names {
    /// The names, and where finished lookups arrive (for
    /// [`Names::answer`]).
    pub fn new(
        resolver: Arc<dyn Resolve>,
        limits: ResolveLimits,
    ) -> (Names, mpsc::UnboundedReceiver<Answer>) {
        let (answers, received) = mpsc::unbounded_channel();
        let names = Names {
            resolver,
            limits,
            entries: HashMap::new(),
            answers,
        };
        (names, received)
    }

    pub fn set_resolver(&mut self, resolver: Arc<dyn Resolve>) {
        self.resolver = resolver;
    }

    /// The address for a datagram to `destination`, or it parked or lost.
    pub fn lookup(&mut self, destination: &Arc<str>, datagram: Parked) -> Lookup {
        // A literal address needs no lookup, and no room in the cache.
        if let Ok(addr) = destination.parse::<SocketAddr>() {
            return Lookup::Ready(addr, datagram);
        }
        let now = Instant::now();
        match self.entries.get_mut(destination) {
            Some(Entry::Known {
                addr,
                refresh_at,
                refreshing,
            }) => {
                let addr = *addr;
                if now >= *refresh_at && !*refreshing {
                    *refreshing = true;
                    self.spawn(destination);
                }
                Lookup::Ready(addr, datagram)
            }
            Some(Entry::Pending(queue)) => {
                if queue.len() >= self.limits.queue {
                    Lookup::Lost(datagram, LostWhy::QueueFull)
                } else {
                    queue.push_back(datagram);
                    Lookup::Parked
                }
            }
            Some(Entry::Failed { reason, retry_at }) if now < *retry_at => {
                Lookup::Lost(datagram, LostWhy::Unresolvable(reason.clone()))
            }
            _ => self.first_lookup(destination, datagram),
        }
    }

    /// A name not cached (or whose failure may be retried).
    fn first_lookup(&mut self, destination: &Arc<str>, datagram: Parked) -> Lookup {
        if !destination.contains(':') {
            let reason = "expected HOST:PORT".to_string();
            return Lookup::Lost(datagram, LostWhy::Unresolvable(reason));
        }
        if !self.make_room(destination) {
            return Lookup::Lost(datagram, LostWhy::QueueFull);
        }
        let entry = Entry::Pending(VecDeque::from([datagram]));
        self.entries.insert(destination.clone(), entry);
        self.spawn(destination);
        Lookup::Parked
    }

    /// Take every datagram waiting for a lookup (the node is stopping): how
    /// many, and the tuples they hold.
    pub fn drain_parked(&mut self) -> (u64, u64) {
        let mut frames = 0;
        let mut tuples = 0;
        for entry in self.entries.values_mut() {
            if let Entry::Pending(queue) = entry {
                frames += queue.len() as u64;
                tuples += queue.drain(..).map(|(_, t)| t).sum::<u64>();
            }
        }
        (frames, tuples)
    }

    /// Whether `name` may have an entry: it has one, or there is room, made
    /// if need be by forgetting the names not being looked up (when every
    /// cached name is being looked up, there is none).
    fn make_room(&mut self, name: &Arc<str>) -> bool {
        if self.entries.contains_key(name) || self.entries.len() < self.limits.names {
            return true;
        }
        self.entries.retain(|_, e| matches!(e, Entry::Pending(_)));
        self.entries.len() < self.limits.names
    }

    fn spawn(&self, name: &Arc<str>) {
        let lookup = self.resolver.lookup(name);
        let timeout = self.limits.timeout;
        let answers = self.answers.clone();
        let name = name.clone();
        tokio::spawn(async move {
            let answer = match tokio::time::timeout(timeout, lookup).await {
                Ok(Ok(addrs)) => addrs
                    .into_iter()
                    .next()
                    .ok_or_else(|| "the resolver returned no address".to_string()),
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err(format!("no answer within {timeout:?}")),
            };
            let _ = answers.send((name, answer));
        });
    }

    /// Record a finished lookup; the datagrams that waited for it, to send
    /// to the address or count as lost.
    pub fn answer(
        &mut self,
        name: Arc<str>,
        answer: Result<SocketAddr, String>,
    ) -> VecDeque<Parked> {
        let waiting = match self.entries.remove(&name) {
            Some(Entry::Pending(queue)) => queue,
            // A refresh: a failure keeps the old address (tried again
            // later); an answer replaces it.
            Some(Entry::Known { addr, .. }) if answer.is_err() => {
                self.entries.insert(
                    name,
                    Entry::Known {
                        addr,
                        refresh_at: Instant::now() + RETRY,
                        refreshing: false,
                    },
                );
                return VecDeque::new();
            }
            Some(_) => VecDeque::new(),
            // Forgotten to make room meanwhile: keep the answer anyway.
            None => VecDeque::new(),
        };
        let entry = match answer {
            Ok(addr) => Entry::Known {
                addr,
                refresh_at: Instant::now() + REFRESH,
                refreshing: false,
            },
            Err(reason) => Entry::Failed {
                reason,
                retry_at: Instant::now() + RETRY,
            },
        };
        if self.make_room(&name) {
            self.entries.insert(name, entry);
        }
        waiting
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// Never answers; counts the lookups.
    #[derive(Default)]
    struct Hanging(AtomicUsize);

    impl Resolve for Hanging {
        fn lookup(
            &self,
            _name: &str,
        ) -> Pin<Box<dyn Future<Output = io::Result<Vec<SocketAddr>>> + Send>> {
            self.0.fetch_add(1, Ordering::Relaxed);
            Box::pin(std::future::pending())
        }
    }

    fn datagram(n: u8) -> Parked {
        (vec![n], 1)
    }

    #[tokio::test]
    async fn lookups_are_bounded_and_literals_need_none() {
        let resolver = Arc::new(Hanging::default());
        let limits = ResolveLimits {
            timeout: Duration::from_secs(3600),
            names: 2,
            queue: 2,
        };
        let (mut names, _answers) = Names::new(resolver.clone(), limits);
        let name = |s: &str| Arc::<str>::from(s);
        // Two datagrams wait for a.test, the third is lost.
        assert!(matches!(
            names.lookup(&name("a.test:1"), datagram(1)),
            Lookup::Parked
        ));
        assert!(matches!(
            names.lookup(&name("a.test:1"), datagram(2)),
            Lookup::Parked
        ));
        assert!(matches!(
            names.lookup(&name("a.test:1"), datagram(3)),
            Lookup::Lost(_, LostWhy::QueueFull)
        ));
        // The cache holds two names, both being looked up: no room for a third.
        assert!(matches!(
            names.lookup(&name("b.test:1"), datagram(4)),
            Lookup::Parked
        ));
        assert!(matches!(
            names.lookup(&name("c.test:1"), datagram(5)),
            Lookup::Lost(_, LostWhy::QueueFull)
        ));
        // A literal address is never looked up nor cached.
        assert!(matches!(
            names.lookup(&name("127.0.0.1:9"), datagram(6)),
            Lookup::Ready(a, _) if a == "127.0.0.1:9".parse().unwrap()
        ));
        assert!(matches!(
            names.lookup(&name("no port"), datagram(7)),
            Lookup::Lost(_, LostWhy::Unresolvable(r)) if r == "expected HOST:PORT"
        ));
        assert_eq!(resolver.0.load(Ordering::Relaxed), 2);
        // a.test resolves: its two datagrams are handed back, and it is
        // known from then on.
        let addr: SocketAddr = "10.0.0.1:1".parse().unwrap();
        let waiting = names.answer(name("a.test:1"), Ok(addr));
        assert_eq!(waiting, [datagram(1), datagram(2)]);
        assert!(matches!(
            names.lookup(&name("a.test:1"), datagram(8)),
            Lookup::Ready(a, _) if a == addr
        ));
        // b.test fails: its datagram is handed back (to count as lost), and
        // the failure is remembered.
        assert_eq!(
            names.answer(name("b.test:1"), Err("no such host".into())),
            [datagram(4)]
        );
        assert!(matches!(
            names.lookup(&name("b.test:1"), datagram(9)),
            Lookup::Lost(_, LostWhy::Unresolvable(r)) if r == "no such host"
        ));
        assert_eq!(resolver.0.load(Ordering::Relaxed), 2);
    }
}
