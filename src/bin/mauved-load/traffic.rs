//! Packets and the sockets that move them: heartbeat templates for many
//! keys, a paced sender, and a bare counting receiver (the baseline).

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mauved::send;
use mauved::wire::{self, pb};

/// Transmission ids are drawn from [2^62, 2^63): always nine varint bytes,
/// so a template's id can be overwritten in place for every packet.
const TID_BASE: u64 = 1 << 62;

/// Which alert key `n` is: `{hosts}-{n / ids}` / `heartbeat-{n % ids}`.
#[derive(Clone, Copy, Debug)]
pub struct Keys {
    pub count: u64,
    pub ids_per_host: u64,
    /// The host name prefix, so that key sets can be told apart.
    pub hosts: &'static str,
}

impl Keys {
    pub fn new(count: u64, ids_per_host: u64) -> Keys {
        Keys {
            count,
            ids_per_host,
            hosts: "load-host",
        }
    }

    pub fn source(&self, n: u64) -> String {
        format!("{}-{}", self.hosts, n / self.ids_per_host)
    }

    pub fn id(&self, n: u64) -> String {
        format!("heartbeat-{}", n % self.ids_per_host)
    }
}

/// The keys of the trickle sent while a mass outage fires.
pub const TRICKLE: Keys = Keys {
    count: 1000,
    ids_per_host: 1000,
    hosts: "load-trickle",
};

/// One encoded packet per key, each a heartbeat as `mauvesend -c -r +N`
/// sends it (clear now, raise at `raise_at`), with its id patched per send.
pub struct Templates {
    packets: Vec<Vec<u8>>,
}

impl Templates {
    pub fn heartbeats(keys: Keys, now: u64, raise_at: u64) -> Templates {
        let packets = (0..keys.count)
            .map(|n| {
                let alert = pb::Alert {
                    id: keys.id(n),
                    raise_time: Some(raise_at),
                    clear_time: Some(now),
                    summary: Some("load test heartbeat".into()),
                    ..pb::Alert::default()
                };
                let update = send::prepare(
                    Some(keys.source(n)),
                    false,
                    vec![alert],
                    now,
                    Some(TID_BASE),
                );
                let packet = wire::encode(&update);
                debug_assert_eq!(&packet[..2], &[0x08, 0x80]);
                packet
            })
            .collect();
        Templates { packets }
    }

    /// Any updates, sent as they are but for their transmission ids.
    pub fn from_updates(updates: Vec<pb::AlertUpdate>) -> Templates {
        let packets = updates
            .into_iter()
            .map(|update| {
                wire::encode(&pb::AlertUpdate {
                    transmission_id: TID_BASE,
                    ..update
                })
            })
            .collect();
        Templates { packets }
    }

    /// Packet `n`'s bytes, as stored (with the template's transmission id).
    pub fn packet(&self, n: u64) -> Vec<u8> {
        self.packets[(n % self.len()) as usize].to_vec()
    }

    pub fn len(&self) -> u64 {
        self.packets.len() as u64
    }

    /// Packet `n` (round-robin over the keys) with transmission id `tid`.
    fn fill(&self, n: u64, tid: u64, out: &mut Vec<u8>) {
        out.clear();
        out.extend_from_slice(&self.packets[(n % self.len()) as usize]);
        // Field 1 (tag 0x08) is first; its varint follows.
        let mut v = TID_BASE | (tid & (TID_BASE - 1));
        for byte in &mut out[1..10] {
            *byte = (v as u8 & 0x7f) | 0x80;
            v >>= 7;
        }
        out[9] &= 0x7f;
    }
}

/// A sending socket and a unique id for every packet it sends.
pub struct Sender {
    socket: UdpSocket,
    next_tid: u64,
    /// Where in the templates the next run goes on.
    position: u64,
    buf: Vec<u8>,
}

/// What a send run did.
pub struct Sent {
    pub packets: u64,
    pub errors: u64,
    pub elapsed: Duration,
}

impl Sent {
    pub fn per_second(&self) -> f64 {
        self.packets as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

impl Sender {
    pub fn connect(target: SocketAddr) -> std::io::Result<Sender> {
        let bind = if target.is_ipv6() {
            "[::1]:0"
        } else {
            "127.0.0.1:0"
        };
        let socket = UdpSocket::bind(bind)?;
        socket.connect(target)?;
        // Random start: two runs against one daemon do not repeat ids.
        let next_tid = u64::from(std::process::id()) << 32 ^ rand_seed();
        Ok(Sender {
            socket,
            next_tid,
            position: 0,
            buf: Vec::with_capacity(256),
        })
    }

    /// Sends `templates` round-robin, going on where the previous run of this
    /// sender stopped, `count` packets (or until `duration`), at `rate`
    /// packets/s (0: as fast as it can).
    pub fn run(
        &mut self,
        templates: &Templates,
        rate: u64,
        count: Option<u64>,
        duration: Duration,
    ) -> Sent {
        let start = Instant::now();
        let mut packets = 0u64;
        let mut errors = 0u64;
        loop {
            let elapsed = start.elapsed();
            if elapsed >= duration || count.is_some_and(|c| packets >= c) {
                break;
            }
            let allowed = match rate {
                0 => packets + 512,
                rate => (elapsed.as_micros() as u64 * rate / 1_000_000).max(1),
            };
            let allowed = count.map_or(allowed, |c| allowed.min(c));
            if packets >= allowed {
                std::thread::sleep(Duration::from_micros(500));
                continue;
            }
            while packets < allowed {
                self.next_tid += 1;
                templates.fill(self.position, self.next_tid, &mut self.buf);
                self.position += 1;
                if self.socket.send(&self.buf).is_err() {
                    errors += 1;
                }
                packets += 1;
            }
        }
        Sent {
            packets,
            errors,
            elapsed: start.elapsed(),
        }
    }
}

fn rand_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos() as u64)
        .unwrap_or(0)
}

/// A bare receiver that only counts datagrams: what the machine can move
/// through one socket, the baseline the daemon is compared with. It reads
/// as mauved does: a batch of datagrams a system call (`recvmmsg`), in
/// rounds, lingering after a steady flow's round as mauved's listener does.
pub struct Sink {
    pub addr: SocketAddr,
    received: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Sink {
    pub fn start() -> std::io::Result<Sink> {
        use socket2::{Domain, Protocol, Socket, Type};
        let socket = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
        // The same buffer mauved asks for.
        let _ = socket.set_recv_buffer_size(16 << 20);
        socket.bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())?;
        let socket: UdpSocket = socket.into();
        socket.set_read_timeout(Some(Duration::from_millis(100)))?;
        let addr = socket.local_addr()?;
        let received = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (received, stop) = (received.clone(), stop.clone());
            std::thread::spawn(move || {
                use std::os::fd::AsRawFd;
                let fd = socket.as_raw_fd();
                let buffer = socket2::SockRef::from(&socket)
                    .recv_buffer_size()
                    .unwrap_or(0);
                let mut datagrams = mauved::ingest::Datagrams::new();
                while !stop.load(Ordering::Relaxed) {
                    // A round as mauved's listener reads one, then a
                    // linger as it does.
                    let most = mauved::ingest::MAX_BATCH;
                    let read = datagrams.read_round(fd, most, |_, _| ()).unwrap_or(0);
                    received.fetch_add(read as u64, Ordering::Relaxed);
                    if let Some(pause) = mauved::ingest::linger(read, buffer) {
                        std::thread::sleep(pause);
                    }
                }
            })
        };
        Ok(Sink {
            addr,
            received,
            stop,
            thread: Some(thread),
        })
    }

    pub fn received(&self) -> u64 {
        self.received.load(Ordering::Relaxed)
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_patched_template_decodes_with_its_new_id() {
        let keys = Keys::new(3, 2);
        let templates = Templates::heartbeats(keys, 1_700_000_000, 1_700_000_300);
        let mut buf = Vec::new();
        for (n, tid) in [(0u64, 1u64), (2, 12345), (5, u64::MAX)] {
            templates.fill(n, tid, &mut buf);
            let decoded = mauved::wire::decode(&buf, 1_700_000_000).unwrap().update;
            assert_eq!(decoded.transmission_id, TID_BASE | (tid & (TID_BASE - 1)));
            assert_eq!(decoded.source, keys.source(n % 3));
            assert_eq!(decoded.alerts[0].id, keys.id(n % 3));
            assert_eq!(decoded.alerts[0].raise_time, Some(1_700_000_300));
        }
    }
}
