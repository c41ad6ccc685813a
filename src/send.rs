//! Sending updates the way mauve's `mauvesend` does, as a library.
//!
//! [`prepare`] fills in what the sender is responsible for (source, a random
//! transmission id, the send time, "raise now" for an alert with no times)
//! and writes every field the Ruby client writes, so a packet from here
//! decodes field for field like one from the original. [`resolve`] turns a
//! destination into addresses (SRV first for a bare host name), and [`send`]
//! puts the same bytes once on every address. The `mauvesend` binary and
//! `mauved-load` are both built on this module.
//!
//! ```no_run
//! use mauved::send::{self, SystemResolver};
//! use mauved::wire::pb;
//! let alert = pb::Alert { id: "disk".into(), summary: Some("disk full".into()), ..Default::default() };
//! let update = send::prepare(Some("web1".into()), false, vec![alert], mauved::clock::Clock::system().now(), None);
//! let destinations = [send::parse_destination("alert.example.com").unwrap()];
//! let report = send::send(&mauved::wire::encode(&update), &destinations, &SystemResolver::new());
//! assert!(!report.sent.is_empty());
//! ```

pub mod cli;

use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::time::Duration;

use crate::alert::UnixSecs;
use crate::wire::pb;

pub use crate::config::{parse_destination, Destination, DEFAULT_PORT};

/// Fills in what the sender owns, as mauve's sender does: the source
/// (default: this host's name), a random 63-bit transmission id, the send
/// time, and "raise now" for alerts with neither time. Every optional field
/// is written, as the Ruby client does.
pub fn prepare(
    source: Option<String>,
    replace: bool,
    alerts: Vec<pb::Alert>,
    now: UnixSecs,
    transmission_id: Option<u64>,
) -> pb::AlertUpdate {
    let alerts = alerts
        .into_iter()
        .map(|a| {
            let (mut raise, clear) = (a.raise_time.unwrap_or(0), a.clear_time.unwrap_or(0));
            if raise == 0 && clear == 0 {
                raise = now;
            }
            pb::Alert {
                id: a.id,
                raise_time: Some(raise),
                clear_time: Some(clear),
                subject: Some(a.subject.unwrap_or_default()),
                summary: Some(a.summary.unwrap_or_default()),
                detail: Some(a.detail.unwrap_or_default()),
                importance: Some(a.importance.unwrap_or(0)),
                suppress_until: Some(a.suppress_until.unwrap_or(0)),
            }
        })
        .collect();
    pb::AlertUpdate {
        transmission_id: transmission_id
            .filter(|&t| t != 0)
            .unwrap_or_else(random_transmission_id),
        source: source.unwrap_or_else(hostname),
        replace,
        alert: alerts,
        signature: Some(Vec::new()),
        transmission_time: Some(now),
    }
}

/// A random non-zero 63-bit id, like mauve's `rand(2**63)`.
pub(crate) fn random_transmission_id() -> u64 {
    loop {
        let id = rand::random::<u64>() >> 1;
        if id != 0 {
            return id;
        }
    }
}

/// This host's name, the default source.
pub fn hostname() -> String {
    gethostname::gethostname().to_string_lossy().into_owned()
}

/// Name resolution, injectable so that the SRV and host logic can be tested
/// without a network.
pub trait Resolve {
    /// Targets of an SRV record as (host, port); empty if there is none.
    fn srv(&self, name: &str) -> Vec<(String, u16)>;
    /// Every IPv4 and IPv6 address of `host`, with `port`.
    fn addrs(&self, host: &str, port: u16) -> Vec<SocketAddr>;
}

/// Every address a destination stands for. A bare host name is looked up as
/// the SRV record `_mauvealert._udp.<host>` first (a name starting with `_`
/// is taken as the whole SRV name); without SRV records it means port 32741.
pub(crate) fn resolve(destination: &Destination, resolver: &dyn Resolve) -> Vec<SocketAddr> {
    match destination {
        Destination::Addr(addr) => vec![*addr],
        Destination::Host {
            name,
            port: Some(port),
        } => resolver.addrs(name, *port),
        Destination::Host { name, port: None } => {
            let srv_name = if name.starts_with('_') {
                name.clone()
            } else {
                format!("_mauvealert._udp.{name}")
            };
            let targets = resolver.srv(&srv_name);
            if targets.is_empty() {
                resolver.addrs(name, DEFAULT_PORT)
            } else {
                targets
                    .iter()
                    .flat_map(|(host, port)| resolver.addrs(host, *port))
                    .collect()
            }
        }
    }
}

/// What happened to one send.
#[derive(Debug, Default)]
pub struct Report {
    pub sent: Vec<SocketAddr>,
    pub failed: Vec<(SocketAddr, std::io::Error)>,
    /// Destinations that resolved to no address at all.
    pub unresolved: Vec<Destination>,
}

/// Sends `bytes` once to every distinct address of every destination.
pub fn send(bytes: &[u8], destinations: &[Destination], resolver: &dyn Resolve) -> Report {
    let mut report = Report::default();
    let mut addrs: Vec<SocketAddr> = Vec::new();
    for destination in destinations {
        let found = resolve(destination, resolver);
        if found.is_empty() {
            report.unresolved.push(destination.clone());
        }
        for addr in found {
            if !addrs.contains(&addr) {
                addrs.push(addr);
            }
        }
    }
    let mut v4: Option<std::io::Result<UdpSocket>> = None;
    let mut v6: Option<std::io::Result<UdpSocket>> = None;
    for addr in addrs {
        let socket = if addr.is_ipv4() {
            v4.get_or_insert_with(|| UdpSocket::bind(("0.0.0.0", 0)))
        } else {
            v6.get_or_insert_with(|| UdpSocket::bind(("::", 0)))
        };
        let result = match socket {
            Ok(socket) => socket.send_to(bytes, addr).map(|_| ()),
            Err(err) => Err(std::io::Error::new(err.kind(), err.to_string())),
        };
        match result {
            Ok(()) => report.sent.push(addr),
            Err(err) => report.failed.push((addr, err)),
        }
    }
    report
}

/// The system's resolver: SRV through hickory (reading /etc/resolv.conf once,
/// on the first SRV lookup), addresses through the C library, so names in
/// /etc/hosts resolve.
pub struct SystemResolver {
    runtime: Option<tokio::runtime::Runtime>,
    nameserver: Option<SocketAddr>,
    dns: std::sync::OnceLock<Option<hickory_resolver::TokioResolver>>,
}

impl SystemResolver {
    pub fn new() -> Self {
        Self::build(None)
    }

    /// Asks one DNS server (over UDP) for SRV records instead of the ones in
    /// /etc/resolv.conf.
    #[cfg(test)]
    pub(crate) fn with_nameserver(nameserver: SocketAddr) -> Self {
        Self::build(Some(nameserver))
    }

    fn build(nameserver: Option<SocketAddr>) -> Self {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .ok();
        SystemResolver {
            runtime,
            nameserver,
            dns: std::sync::OnceLock::new(),
        }
    }

    fn dns_client(&self) -> Option<hickory_resolver::TokioResolver> {
        use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig};
        use hickory_resolver::net::runtime::TokioRuntimeProvider;
        let Some(addr) = self.nameserver else {
            return hickory_resolver::TokioResolver::builder_tokio()
                .ok()?
                .build()
                .ok();
        };
        let mut connection = ConnectionConfig::udp();
        connection.port = addr.port();
        let mut server = NameServerConfig::udp(addr.ip());
        server.connections = vec![connection];
        let config = ResolverConfig::from_name_servers(vec![server]);
        hickory_resolver::Resolver::builder_with_config(config, TokioRuntimeProvider::default())
            .build()
            .ok()
    }
}

impl Default for SystemResolver {
    fn default() -> Self {
        Self::new()
    }
}

impl Resolve for SystemResolver {
    fn srv(&self, name: &str) -> Vec<(String, u16)> {
        use hickory_resolver::proto::rr::RData;
        // "localhost" never has SRV records; do not wait on DNS for it.
        if name.ends_with(".localhost") || name == "localhost" {
            return Vec::new();
        }
        let Some(runtime) = &self.runtime else {
            return Vec::new();
        };
        let dns = self.dns.get_or_init(|| {
            let _entered = runtime.enter();
            self.dns_client()
        });
        let Some(dns) = dns else {
            return Vec::new();
        };
        runtime.block_on(async {
            let lookup = tokio::time::timeout(Duration::from_secs(3), dns.srv_lookup(name));
            match lookup.await {
                Ok(Ok(found)) => found
                    .answers()
                    .iter()
                    .filter_map(|record| match &record.data {
                        RData::SRV(srv) => Some((
                            srv.target.to_string().trim_end_matches('.').to_owned(),
                            srv.port,
                        )),
                        _ => None,
                    })
                    .collect(),
                _ => Vec::new(),
            }
        })
    }

    fn addrs(&self, host: &str, port: u16) -> Vec<SocketAddr> {
        (host, port)
            .to_socket_addrs()
            .map(|addrs| addrs.collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const NOW: u64 = 1_700_000_000;

    #[test]
    fn prepare_fills_what_the_sender_owns() {
        let alert = pb::Alert {
            id: "a".into(),
            ..pb::Alert::default()
        };
        let heartbeat = pb::Alert {
            id: "hb".into(),
            raise_time: Some(NOW + 600),
            clear_time: Some(NOW),
            ..pb::Alert::default()
        };
        let u = prepare(None, false, vec![alert, heartbeat], NOW, None);
        assert_eq!(u.source, hostname());
        assert!(u.transmission_id != 0 && u.transmission_id < 1 << 63);
        assert_eq!(u.transmission_time, Some(NOW));
        assert_eq!(u.alert[0].raise_time, Some(NOW), "no times: raise now");
        assert_eq!(u.alert[0].clear_time, Some(0));
        assert_eq!(u.alert[0].subject.as_deref(), Some(""));
        assert_eq!(u.alert[1].raise_time, Some(NOW + 600));
        let other = prepare(None, false, vec![], NOW, None);
        assert_ne!(u.transmission_id, other.transmission_id);
    }

    #[test]
    fn destinations_parse_like_mauvesend() {
        let addr = |s: &str| Destination::Addr(s.parse().unwrap());
        let host = |n: &str, p| Destination::Host {
            name: n.into(),
            port: p,
        };
        assert_eq!(parse_destination("1.2.3.4"), Ok(addr("1.2.3.4:32741")));
        assert_eq!(parse_destination("1.2.3.4:99"), Ok(addr("1.2.3.4:99")));
        assert_eq!(parse_destination("[::1]"), Ok(addr("[::1]:32741")));
        assert_eq!(parse_destination("[::1]:99"), Ok(addr("[::1]:99")));
        assert_eq!(parse_destination("::1"), Ok(addr("[::1]:32741")));
        assert_eq!(
            parse_destination("alert.example.com"),
            Ok(host("alert.example.com", None))
        );
        assert_eq!(
            parse_destination("alert:1234"),
            Ok(host("alert", Some(1234)))
        );
        assert_eq!(
            parse_destination("_mauve._udp.example.com"),
            Ok(host("_mauve._udp.example.com", None))
        );
        for bad in ["", "host:port", "host:99999", "[nope]", "a b", "x:"] {
            assert!(parse_destination(bad).is_err(), "{bad}");
        }
    }

    /// A resolver that knows a few names and records what was asked.
    #[derive(Default)]
    struct Fake {
        srv: HashMap<String, Vec<(String, u16)>>,
        hosts: HashMap<String, Vec<std::net::IpAddr>>,
        asked: std::cell::RefCell<Vec<String>>,
    }

    impl Resolve for Fake {
        fn srv(&self, name: &str) -> Vec<(String, u16)> {
            self.asked.borrow_mut().push(format!("SRV {name}"));
            self.srv.get(name).cloned().unwrap_or_default()
        }
        fn addrs(&self, host: &str, port: u16) -> Vec<SocketAddr> {
            self.asked.borrow_mut().push(format!("A {host}:{port}"));
            self.hosts
                .get(host)
                .map(|ips| ips.iter().map(|ip| SocketAddr::new(*ip, port)).collect())
                .unwrap_or_default()
        }
    }

    fn fake() -> Fake {
        let mut f = Fake::default();
        f.srv.insert(
            "_mauvealert._udp.example.com".into(),
            vec![
                ("alert1.example.com".into(), 1000),
                ("alert2.example.com".into(), 2000),
            ],
        );
        f.hosts.insert(
            "alert1.example.com".into(),
            vec!["10.0.0.1".parse().unwrap(), "fd00::1".parse().unwrap()],
        );
        f.hosts.insert(
            "alert2.example.com".into(),
            vec!["10.0.0.2".parse().unwrap()],
        );
        f.hosts.insert(
            "plain.example.com".into(),
            vec!["10.0.0.3".parse().unwrap()],
        );
        f
    }

    #[test]
    fn a_bare_host_uses_srv_targets_and_all_their_addresses() {
        let f = fake();
        let found = resolve(&parse_destination("example.com").unwrap(), &f);
        let expected: Vec<SocketAddr> = ["10.0.0.1:1000", "[fd00::1]:1000", "10.0.0.2:2000"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        assert_eq!(found, expected);
    }

    #[test]
    fn without_srv_a_bare_host_means_the_default_port() {
        let f = fake();
        let found = resolve(&parse_destination("plain.example.com").unwrap(), &f);
        assert_eq!(found, vec!["10.0.0.3:32741".parse().unwrap()]);
        assert_eq!(
            *f.asked.borrow(),
            vec![
                "SRV _mauvealert._udp.plain.example.com".to_string(),
                "A plain.example.com:32741".to_string()
            ]
        );
    }

    #[test]
    fn a_port_skips_srv_and_an_underscore_name_is_the_srv_name() {
        let f = fake();
        resolve(&parse_destination("example.com:5").unwrap(), &f);
        assert_eq!(*f.asked.borrow(), vec!["A example.com:5".to_string()]);
        let f = fake();
        let found = resolve(
            &parse_destination("_mauvealert._udp.example.com").unwrap(),
            &f,
        );
        assert_eq!(found.len(), 3);
    }

    #[test]
    fn the_system_resolver_reads_etc_hosts() {
        let found = SystemResolver::new().addrs("localhost", 9);
        assert!(
            found.iter().any(|a| a.ip().is_loopback() && a.port() == 9),
            "{found:?}"
        );
    }

    /// Answers DNS queries on 127.0.0.1: SRV records for one name, NXDOMAIN
    /// for anything else. Stops when the test's resolver goes quiet.
    fn fake_dns_server() -> SocketAddr {
        use hickory_resolver::proto::op::{Message, OpCode, ResponseCode};
        use hickory_resolver::proto::rr::rdata::SRV;
        use hickory_resolver::proto::rr::{Name, RData, Record, RecordType};
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let addr = socket.local_addr().unwrap();
        std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            while let Ok((n, peer)) = socket.recv_from(&mut buf) {
                let Ok(query) = Message::from_vec(&buf[..n]) else {
                    continue;
                };
                let mut reply = Message::response(query.metadata.id, OpCode::Query);
                reply.metadata.recursion_desired = query.metadata.recursion_desired;
                reply.metadata.recursion_available = true;
                for q in &query.queries {
                    reply.add_query(q.clone());
                    let name = q.name().to_string().to_ascii_lowercase();
                    if name == "_mauvealert._udp.example.test." && q.query_type() == RecordType::SRV
                    {
                        for (target, port) in [
                            ("alert1.example.test.", 1000),
                            ("alert2.example.test.", 2000),
                        ] {
                            let srv = SRV::new(10, 5, port, Name::from_ascii(target).unwrap());
                            reply.add_answer(Record::from_rdata(
                                q.name().clone(),
                                60,
                                RData::SRV(srv),
                            ));
                        }
                    } else {
                        reply.metadata.response_code = ResponseCode::NXDomain;
                    }
                }
                let _ = socket.send_to(&reply.to_vec().unwrap(), peer);
            }
        });
        addr
    }

    #[test]
    fn the_system_resolver_finds_srv_targets_over_dns() {
        let resolver = SystemResolver::with_nameserver(fake_dns_server());
        assert_eq!(
            resolver.srv("_mauvealert._udp.example.test"),
            vec![
                ("alert1.example.test".to_string(), 1000),
                ("alert2.example.test".to_string(), 2000)
            ]
        );
        assert_eq!(resolver.srv("_mauvealert._udp.nothing.test"), vec![]);
    }

    #[test]
    fn send_reaches_every_address_once() {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        let dests = [
            Destination::Addr(a.local_addr().unwrap()),
            Destination::Addr(b.local_addr().unwrap()),
            Destination::Addr(a.local_addr().unwrap()),
            Destination::Host {
                name: "nowhere.invalid".into(),
                port: Some(1),
            },
        ];
        let report = send(b"hello", &dests, &fake());
        assert_eq!(report.sent.len(), 2);
        assert_eq!(report.unresolved.len(), 1);
        let mut buf = [0u8; 16];
        for socket in [&a, &b] {
            socket
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            let (n, _) = socket.recv_from(&mut buf).unwrap();
            assert_eq!(&buf[..n], b"hello");
        }
        a.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        assert!(a.recv_from(&mut buf).is_err(), "only once per address");
    }
}
