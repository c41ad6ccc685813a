//! Ingest: UDP datagrams in, de-duplicated batches of updates out.
//!
//! Each listening socket has a thread of its own. It waits for a datagram,
//! then takes every datagram already queued in the kernel (up to a batch,
//! 32 a system call: `datagrams.rs`), so under load one hand-off to the
//! scheduler carries many packets and when idle a single packet goes
//! through at once; under a steady flow it lingers a millisecond between
//! rounds ([`linger`]). Decoding happens here, on the listener's own
//! thread, so a hostile packet costs its sender's socket time and nobody
//! else's.

use hashbrown::HashSet;
use parking_lot::Mutex;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::alert::{UnixSecs, Update};
use crate::clock::Clock;
use crate::metrics::Metrics;
use crate::scheduler::{self, SchedulerHandle};
use crate::throttle::LogLimiter;
use crate::wire;

mod datagrams;
pub use self::datagrams::{set_socket_option, Datagrams, BATCH as DATAGRAMS_AT_ONCE};

/// Largest number of datagrams handed to the scheduler at once.
pub const MAX_BATCH: usize = 1024;
/// A round that took this many datagrams (but fewer than [`MAX_BATCH`],
/// which leaves more waiting) is a steady flow's: see [`linger`].
const LINGER_AFTER: usize = 2 * DATAGRAMS_AT_ONCE;
const LINGER: std::time::Duration = std::time::Duration::from_millis(1);
/// Only with a receive buffer this large: at 400,000 datagrams a second, a
/// linger (a millisecond, a little more if the machine is busy) queues a
/// few hundred of them in the kernel, a kilobyte each with its bookkeeping.
const LINGER_BUFFER: usize = 2 << 20;
/// How long a reader that took `read` datagrams in its last round waits
/// before the next, with a receive buffer of `buffer` bytes (as the kernel
/// reports it): [`LINGER`] after a steady flow's round, else not at all. A
/// steady flow then gathers in the kernel, and the next round carries
/// more, rather than the reader (and the scheduler after it) waking for
/// every few datagrams. The load tool's bare receiver reads by this rule too.
pub fn linger(read: usize, buffer: usize) -> Option<std::time::Duration> {
    let steady = (LINGER_AFTER..MAX_BATCH).contains(&read);
    // Linux reports twice the buffer it grants.
    (steady && buffer / 2 >= LINGER_BUFFER).then_some(LINGER)
}

/// Receive buffer asked of the kernel (mauve asks for 10 MiB): bursts from a
/// whole fleet's cron jobs arrive together, and the buffer is what carries
/// them while the scheduler is busy.
const SOCKET_RECV_BUFFER: usize = 16 * 1024 * 1024;

/// Remembers recent `transmission_id`s. mauvesend sends the same bytes to
/// every address of every destination, so one update can arrive several times.
///
/// Two generations of ids bound the memory (eight bytes an id): ids go into
/// `young`; when it has covered a whole window (or holds half the cap) it
/// becomes `old` and the previous `old` is emptied to be the next `young`.
/// The ids are hashed with a seed drawn per process, so a sender cannot
/// pick ids that collide. An id is a duplicate while
/// either generation holds it, so it is remembered for at least the window
/// after it was last seen and at most twice that (mauve remembers exactly the
/// window). Past the cap (a flood of distinct ids) the window shrinks; copies
/// of one update arrive within milliseconds, and one that slips through is
/// harmless: re-applying an update is idempotent.
pub(crate) struct Dedup {
    young: HashSet<u64>,
    old: HashSet<u64>,
    young_since: UnixSecs,
    expire_s: u64,
    max_ids: usize,
}

impl Dedup {
    /// About 10 MiB at the cap: at a full 100,000 packets/s that is a window
    /// of a few seconds, and the copies of one update arrive within
    /// milliseconds of each other.
    pub(crate) const DEFAULT_MAX_IDS: usize = 1 << 19;

    pub(crate) fn new(expire_s: u64) -> Self {
        Self::with_cap(expire_s, Self::DEFAULT_MAX_IDS)
    }

    pub(crate) fn with_cap(expire_s: u64, max_ids: usize) -> Self {
        Dedup {
            young: HashSet::new(),
            old: HashSet::new(),
            young_since: 0,
            expire_s,
            max_ids: max_ids.max(2),
        }
    }

    /// True the first time an id is seen within the window. A repeat refreshes
    /// the id, so a sender stuck on one id stays ignored (as in mauve).
    /// Id 0 means "no id" (HTTP submissions) and is never a duplicate.
    pub(crate) fn first_sighting(&mut self, transmission_id: u64, now: UnixSecs) -> bool {
        if transmission_id == 0 {
            return true;
        }
        let window_over = now >= self.young_since.saturating_add(self.expire_s);
        if window_over || self.young.len() >= self.max_ids / 2 {
            if now >= self.young_since.saturating_add(2 * self.expire_s) {
                // Quiet for two windows: nothing remembered is recent.
                self.young.clear();
            }
            // The old generation's room is kept for the new one: a steady
            // flow does not grow a set from empty every window.
            std::mem::swap(&mut self.old, &mut self.young);
            self.young.clear();
            self.young_since = now;
        }
        let in_old = self.old.contains(&transmission_id);
        let new_in_young = self.young.insert(transmission_id);
        new_in_young && !in_old
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.young.len() + self.old.len()
    }

    /// Keeps the updates of a batch whose transmission id is new.
    pub(crate) fn retain_new(&mut self, updates: &mut Vec<Update>, metrics: &Metrics) {
        let before = updates.len();
        updates.retain(|u| self.first_sighting(u.transmission_id, u.received_at));
        let dropped = (before - updates.len()) as u64;
        metrics.packets_duplicate.inc_by(dropped);
    }
}

/// What every listener (and `POST /events`) shares: de-duplication, then
/// the way into the scheduler.
#[derive(Clone)]
pub(crate) struct Sink {
    pub(crate) scheduler: SchedulerHandle,
    dedup: Arc<Mutex<Dedup>>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) clock: Clock,
    /// UDP senders allowed (`listen.allow_sources`); empty: anyone.
    allow: Arc<Vec<crate::config::Cidr>>,
    /// Packets a second one sender address may send (`per_s` 0: no
    /// limit), shared by every socket receiving: a sender whose ports the
    /// kernel spreads over several is held to one limit.
    limits: Arc<Mutex<SourceLimits>>,
}

impl Sink {
    /// The sink for `listen`'s senders (its allow list and rate limit are
    /// taken here, so no listener can be started without them), remembering
    /// transmission ids for `dedup_s`.
    pub(crate) fn new(
        scheduler: SchedulerHandle,
        metrics: Arc<Metrics>,
        clock: Clock,
        listen: &crate::config::Listen,
        dedup_s: u64,
    ) -> Self {
        Sink {
            scheduler,
            dedup: Arc::new(Mutex::new(Dedup::new(dedup_s))),
            metrics,
            clock,
            allow: Arc::new(listen.allow_sources.clone()),
            limits: Arc::new(Mutex::new(SourceLimits::new(listen.max_packets_per_source))),
        }
    }

    fn retain_new(&self, updates: &mut Vec<Update>) {
        self.dedup.lock().retain_new(updates, &self.metrics);
    }

    /// De-duplicates a batch and hands it to the scheduler.
    pub(crate) async fn submit(&self, mut updates: Vec<Update>) -> Result<(), scheduler::Error> {
        self.retain_new(&mut updates);
        if updates.is_empty() {
            return Ok(());
        }
        self.scheduler.apply(updates).await
    }

    /// Like [`Sink::submit`], returning once the batch is on disk.
    pub(crate) async fn submit_durably(
        &self,
        mut updates: Vec<Update>,
    ) -> Result<(), scheduler::Error> {
        self.retain_new(&mut updates);
        self.scheduler.apply_durably(updates).await
    }
}

/// Said once per process: every UDP socket meets the same cap.
static CAP_TOLD: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Asks for a large receive buffer: past `net.core.rmem_max` where this
/// process may (`SO_RCVBUFFORCE`, root or `CAP_NET_ADMIN`), else up to it,
/// and says once, with the command that raises the cap, when it is short.
fn grow_recv_buffer(socket: &socket2::Socket, addr: SocketAddr) {
    use std::os::fd::AsRawFd;
    let wanted = libc::c_int::try_from(SOCKET_RECV_BUFFER).unwrap_or(libc::c_int::MAX);
    let forced =
        datagrams::set_socket_option(socket.as_raw_fd(), libc::SO_RCVBUFFORCE, wanted).is_ok();
    if !forced {
        if let Err(err) = socket.set_recv_buffer_size(SOCKET_RECV_BUFFER) {
            tracing::warn!(%addr, %err, "could not set the UDP receive buffer");
        }
    }
    // Linux silently caps the buffer at net.core.rmem_max (and reports
    // twice what it grants, for its own bookkeeping).
    let granted = socket.recv_buffer_size().unwrap_or(0) / 2;
    if granted < SOCKET_RECV_BUFFER && !CAP_TOLD.swap(true, std::sync::atomic::Ordering::Relaxed) {
        tracing::warn!(
            granted_kib = granted / 1024,
            wanted_kib = SOCKET_RECV_BUFFER / 1024,
            "the OS caps the UDP receive buffer: bursts beyond it are dropped by the kernel; \
             raise the cap with `sysctl -w net.core.rmem_max={SOCKET_RECV_BUFFER}`"
        );
    }
}

/// Binds `readers` UDP sockets on `addr` (with `SO_REUSEPORT` when more
/// than one: the kernel spreads senders over them by address and port),
/// each with a large receive buffer. Port 0 is chosen once, for all.
///
/// Several: a plain socket is bound first, and closed, so that an address
/// another process holds is refused as with one socket (sockets with
/// `SO_REUSEPORT` alone would share it with any process of the same user),
/// and port 0 becomes a port no socket holds.
pub(crate) fn bind_udp(
    addr: SocketAddr,
    readers: usize,
) -> std::io::Result<Vec<std::net::UdpSocket>> {
    if readers <= 1 {
        return Ok(vec![bind_one(addr, false)?]);
    }
    let addr = std::net::UdpSocket::bind(addr)?.local_addr()?;
    let first = bind_one(addr, true)?;
    let mut sockets = vec![first];
    for _ in 1..readers {
        sockets.push(bind_one(addr, true)?);
    }
    Ok(sockets)
}

/// Binds one UDP socket with a large receive buffer.
fn bind_one(addr: SocketAddr, shared: bool) -> std::io::Result<std::net::UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        // "[::]" should also take IPv4 where the OS allows it.
        let _ = socket.set_only_v6(false);
    }
    if shared {
        use std::os::fd::AsRawFd;
        datagrams::set_socket_option(socket.as_raw_fd(), libc::SO_REUSEPORT, 1)?;
    }
    socket.set_read_timeout(Some(READ_TIMEOUT))?;
    socket.bind(&addr.into())?;
    // Bound: only now is the buffer worth a word.
    grow_recv_buffer(&socket, addr);
    {
        use std::os::fd::AsRawFd;
        if let Err(err) = datagrams::count_drops(socket.as_raw_fd()) {
            tracing::warn!(%addr, %err, "the kernel's UDP drops cannot be counted (SO_RXQ_OVFL)");
        }
    }
    Ok(socket.into())
}

/// Packets per second each sender address may send (a token bucket holding
/// one second's worth); 0: no limit.
#[derive(Debug, Default)]
pub(crate) struct SourceLimits {
    per_s: u64,
    buckets: std::collections::HashMap<std::net::IpAddr, (f64, u64)>,
}

impl SourceLimits {
    pub(crate) fn new(per_s: u64) -> Self {
        SourceLimits {
            per_s,
            buckets: std::collections::HashMap::new(),
        }
    }

    /// Whether a packet from `ip` at `now_ms` is within its sender's limit.
    pub(crate) fn allow(&mut self, ip: std::net::IpAddr, now_ms: u64) -> bool {
        if self.per_s == 0 {
            return true;
        }
        if self.buckets.len() > 100_000 {
            // A spray of addresses: start again rather than grow.
            self.buckets.clear();
        }
        let most = self.per_s as f64;
        let (tokens, at) = self
            .buckets
            .entry(ip.to_canonical())
            .or_insert((most, now_ms));
        *tokens = (*tokens + now_ms.saturating_sub(*at) as f64 * most / 1000.0).min(most);
        *at = now_ms;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// How long a blocked read waits before the reader looks whether it should
/// stop.
const READ_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(50);

/// Reads `socket` on a thread of its own, named `udp-reader`, until
/// `shutdown` (or until the scheduler is gone); the task returned ends when
/// the thread does, and dropping it (the runtime going away) stops the
/// thread too.
pub(crate) fn spawn_listener(
    socket: std::net::UdpSocket,
    sink: Sink,
    shutdown: &CancellationToken,
) -> std::io::Result<impl std::future::Future<Output = ()>> {
    let stop = shutdown.child_token();
    let stop_on_drop = stop.clone().drop_guard();
    let (ended, end) = tokio::sync::oneshot::channel::<()>();
    let runtime = tokio::runtime::Handle::current();
    std::thread::Builder::new()
        .name("udp-reader".into())
        .spawn(move || {
            listen_udp(&socket, &sink, &stop, &runtime);
            // The port and the way into the scheduler are let go of
            // before the end is told.
            drop((socket, sink));
            drop(ended);
        })?;
    Ok(async move {
        let _stop_on_drop = stop_on_drop;
        let _ = end.await;
    })
}

/// Receives datagrams until `stop` (or until the scheduler is gone), in
/// rounds: a blocking wait for the first, then every datagram already
/// queued in the kernel, up to [`MAX_BATCH`], taken [`DATAGRAMS_AT_ONCE`] a
/// system call, handed on as one batch. A blocking read on a thread of its
/// own, not the runtime's readiness: a socket registered with epoll wakes
/// its waiter for every datagram that arrives, even while the reader
/// lingers ([`linger`]).
fn listen_udp(
    socket: &std::net::UdpSocket,
    sink: &Sink,
    stop: &CancellationToken,
    runtime: &tokio::runtime::Handle,
) {
    use std::os::fd::AsRawFd;
    let fd = socket.as_raw_fd();
    let buffer = socket2::SockRef::from(socket)
        .recv_buffer_size()
        .unwrap_or(0);
    let mut datagrams = Datagrams::new();
    let mut limiter = LogLimiter::new();
    let limited = sink.limits.lock().per_s > 0;
    let mut dropped_before = 0u32;
    while !stop.is_cancelled() {
        let mut batch = Vec::new();
        let mut now = None;
        let round = datagrams.read_round(fd, MAX_BATCH, |bytes, peer| {
            let Some(peer) = peer else {
                return;
            };
            // The time the first datagram of the round was taken.
            let now = *now.get_or_insert_with(|| sink.clock.now());
            if !limited || within(peer, sink, now, &mut limiter) {
                accept(bytes, peer, now, &mut batch, sink, &mut limiter);
            }
        });
        let now = sink.clock.now();
        let read = match round {
            Ok(read) => read,
            Err(err) => {
                if limiter.allow(now) {
                    tracing::warn!(%err, "UDP receive failed");
                }
                std::thread::sleep(READ_TIMEOUT);
                continue;
            }
        };
        count_dropped(&datagrams, &mut dropped_before, sink, now, &mut limiter);
        if !batch.is_empty() && runtime.block_on(sink.submit(batch)).is_err() {
            return;
        }
        if let Some(pause) = linger(read, buffer) {
            std::thread::sleep(pause);
        }
    }
}

/// Counts what the kernel dropped since the last look (its counter wraps).
fn count_dropped(
    datagrams: &Datagrams,
    before: &mut u32,
    sink: &Sink,
    now: UnixSecs,
    limiter: &mut LogLimiter,
) {
    let Some(dropped) = datagrams.dropped() else {
        return;
    };
    let new = dropped.wrapping_sub(*before);
    *before = dropped;
    if new == 0 {
        return;
    }
    sink.metrics.packets_dropped.inc_by(u64::from(new));
    if limiter.allow(now) {
        tracing::warn!(
            dropped = new,
            "the kernel dropped UDP packets: the receive buffer was full (mauved_packets_dropped_total)"
        );
    }
}

/// The sender's rate limit: false (counted, logged rate-limited) when over it.
fn within(peer: SocketAddr, sink: &Sink, now: UnixSecs, limiter: &mut LogLimiter) -> bool {
    if sink.limits.lock().allow(peer.ip(), sink.clock.now_ms()) {
        return true;
    }
    sink.metrics.packets_received.inc();
    sink.metrics.packet_rejected(wire::PacketError::RateLimited);
    if limiter.allow(now) {
        tracing::warn!(%peer, "packet refused: the sender is over listen.max_packets_per_source");
    }
    false
}

fn accept(
    bytes: &[u8],
    peer: SocketAddr,
    now: UnixSecs,
    batch: &mut Vec<Update>,
    sink: &Sink,
    limiter: &mut LogLimiter,
) {
    let metrics = &sink.metrics;
    metrics.packets_received.inc();
    if !sink.allow.is_empty() && !sink.allow.iter().any(|range| range.contains(peer.ip())) {
        metrics.packet_rejected(wire::PacketError::NotAllowed);
        if limiter.allow(now) {
            tracing::warn!(%peer, "packet refused: the sender is not in listen.allow_sources");
        }
        return;
    }
    match wire::decode(bytes, now) {
        Ok(decoded) => {
            for (id, why) in &decoded.rejected {
                metrics.alert_rejected(*why);
                if limiter.allow(now) {
                    tracing::warn!(%peer, source = %decoded.update.source, %id, "alert refused: {why}");
                }
            }
            if decoded.truncated > 0 {
                metrics
                    .fields_truncated
                    .inc_by(u64::from(decoded.truncated));
                if limiter.allow(now) {
                    tracing::warn!(%peer, source = %decoded.update.source, "over-long fields were cut");
                }
            }
            if decoded.repaired > 0 {
                metrics.fields_repaired.inc_by(u64::from(decoded.repaired));
                if limiter.allow(now) {
                    tracing::warn!(%peer, source = %decoded.update.source, "invalid UTF-8 replaced with '?'");
                }
            }
            batch.push(decoded.update);
        }
        Err(why) => {
            metrics.packet_rejected(why);
            if limiter.allow(now) {
                tracing::warn!(%peer, len = bytes.len(), "packet refused: {why}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_sender_has_its_own_bucket_of_one_seconds_packets() {
        let a: std::net::IpAddr = "192.0.2.1".parse().unwrap();
        let b: std::net::IpAddr = "192.0.2.2".parse().unwrap();
        let mut limits = SourceLimits::new(10);
        assert_eq!((0..20).filter(|_| limits.allow(a, 1_000)).count(), 10);
        assert!(limits.allow(b, 1_000), "another sender is not held up");
        assert!(!limits.allow(a, 1_050));
        assert!(limits.allow(a, 1_100), "a tenth of a second refills one");
        assert!(SourceLimits::new(0).allow(a, 0), "0: no limit");
    }

    #[test]
    fn a_reader_lingers_only_after_a_steady_flows_round_with_room_in_the_kernel() {
        let roomy = 2 * LINGER_BUFFER;
        assert_eq!(linger(1, roomy), None, "a lone datagram goes on at once");
        assert_eq!(linger(LINGER_AFTER - 1, roomy), None);
        assert_eq!(linger(LINGER_AFTER, roomy), Some(LINGER));
        assert_eq!(linger(MAX_BATCH - 1, roomy), Some(LINGER));
        assert_eq!(linger(MAX_BATCH, roomy), None, "more is waiting: read on");
        assert_eq!(
            linger(LINGER_AFTER, roomy - 2),
            None,
            "a small buffer would overflow while waiting"
        );
    }

    #[test]
    fn a_generation_keeps_its_room_when_it_turns_over() {
        let mut dedup = Dedup::new(300);
        for id in 1..=1000 {
            dedup.first_sighting(id, 1000);
        }
        let room = dedup.young.capacity();
        dedup.first_sighting(5000, 1300);
        dedup.first_sighting(5001, 1600);
        assert_eq!(dedup.len(), 2);
        assert!(
            dedup.young.capacity() >= room || dedup.old.capacity() >= room,
            "the room for 1,000 ids was given back"
        );
    }

    #[test]
    fn a_transmission_id_is_a_duplicate_for_one_to_two_windows() {
        let mut dedup = Dedup::new(300);
        assert!(dedup.first_sighting(7, 1000));
        assert!(!dedup.first_sighting(7, 1010));
        assert!(dedup.first_sighting(8, 1010));
        // Repeats refresh it: still a duplicate 300 s after the first.
        assert!(!dedup.first_sighting(7, 1305));
        // Remembered for at least a window after it was last seen...
        assert!(!dedup.first_sighting(7, 1604));
        // ...and forgotten within two.
        let mut dedup = Dedup::new(300);
        assert!(dedup.first_sighting(9, 1000));
        assert!(dedup.first_sighting(10, 1300));
        assert!(dedup.first_sighting(9, 1600));
        // Quiet for two windows: everything is forgotten.
        let mut dedup = Dedup::new(300);
        assert!(dedup.first_sighting(11, 1000));
        assert!(dedup.first_sighting(11, 1700));
    }

    #[test]
    fn zero_is_never_a_duplicate() {
        let mut dedup = Dedup::new(300);
        assert!(dedup.first_sighting(0, 1));
        assert!(dedup.first_sighting(0, 1));
    }

    #[test]
    fn old_ids_are_forgotten() {
        let mut dedup = Dedup::new(300);
        for id in 1..=100 {
            dedup.first_sighting(id, 1000);
        }
        dedup.first_sighting(1000, 1400);
        dedup.first_sighting(1001, 1800);
        assert_eq!(dedup.len(), 2);
    }

    #[test]
    fn memory_is_capped_under_a_flood_of_ids() {
        let mut dedup = Dedup::with_cap(300, 1000);
        for id in 1..=100_000 {
            assert!(dedup.first_sighting(id, 1000));
            assert!(dedup.len() <= 1000);
        }
        // Recent ids are still recognised.
        assert!(!dedup.first_sighting(100_000, 1001));
        assert!(!dedup.first_sighting(99_800, 1001));
    }
}
