//! UDP intake: what the kernel drops at the socket is counted, several
//! readers share a port and its limits, and the readers (threads of their
//! own) end with the daemon.

mod common;

use std::net::UdpSocket;
use std::time::Duration;

use common::*;
use mauved::wire::pb;

/// The daemon stopped (SIGSTOP) while a burst far larger than its receive
/// buffer arrives: the kernel drops the rest, and once the daemon runs
/// again every datagram sent is either received or counted as dropped.
#[test]
fn datagrams_the_kernel_drops_are_counted() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start(dir.path(), "");
    let big = pb::Alert {
        summary: Some("x".repeat(1300)),
        ..alert("burst", Some(now() + 3600), None)
    };
    let datagram = packet(1, "flood", vec![big], false);
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    // More than twice the 16 MiB the socket asks for (the kernel doubles
    // it): tens of MiB even at the size each datagram is sent at.
    const SENT: u64 = 60_000;
    // SAFETY: signals to the daemon this test started (and continues it).
    assert_eq!(unsafe { libc::kill(d.pid() as i32, libc::SIGSTOP) }, 0);
    for _ in 0..SENT {
        socket.send_to(&datagram, d.udp()).unwrap();
    }
    // SAFETY: as above.
    assert_eq!(unsafe { libc::kill(d.pid() as i32, libc::SIGCONT) }, 0);
    // The count comes with the next datagram queued after the drops.
    let mut sent = SENT;
    let (received, dropped) = wait_for(Duration::from_secs(30), "every datagram told", || {
        socket.send_to(&datagram, d.udp()).unwrap();
        sent += 1;
        std::thread::sleep(Duration::from_millis(20));
        let received = d.metric("mauved_packets_received_total") as u64;
        let dropped = d.metric("mauved_packets_dropped_total") as u64;
        (received + dropped == sent).then_some((received, dropped))
    });
    assert!(dropped > 0, "{received} received, none dropped");
    assert!(received > 0, "{dropped} dropped, none received");
    println!("{sent} sent: {received} received, {dropped} dropped");
}

/// The sockets bound to UDP `port` on this machine (IPv4), from the kernel.
fn sockets_on(port: u16) -> usize {
    let table = std::fs::read_to_string("/proc/net/udp").unwrap();
    table
        .lines()
        .skip(1)
        .filter_map(|line| line.split_whitespace().nth(1)?.rsplit_once(':'))
        .filter(|(_, p)| u16::from_str_radix(p, 16) == Ok(port))
        .count()
}

/// Four sockets share the port (the kernel spreads senders over them by
/// address and port); every packet from many sender ports is taken, and one
/// sender address is held to one rate limit, not one per socket.
#[test]
fn several_readers_share_the_port_and_one_rate_limit() {
    let dir = tempfile::tempdir().unwrap();
    let d = Daemon::start_listening(
        dir.path(),
        "udp_readers = 4\nmax_packets_per_source = 100",
        "",
    );
    assert_eq!(sockets_on(d.udp().port()), 4);
    let senders: Vec<UdpSocket> = (0..40)
        .map(|_| UdpSocket::bind("127.0.0.1:0").unwrap())
        .collect();
    let t = now();
    let started = std::time::Instant::now();
    for i in 0..2000u64 {
        let p = heartbeat(i + 1, "noisy", &format!("a{i}"), t);
        senders[i as usize % senders.len()]
            .send_to(&p, d.udp())
            .unwrap();
    }
    let took = started.elapsed().as_secs_f64();
    wait_for(Duration::from_secs(10), "all counted", || {
        (d.metric("mauved_packets_received_total") == 2000.0).then_some(())
    });
    let limited = d.metric("mauved_packets_rejected_total{reason=\"rate_limited\"}");
    let applied = d.metric("mauved_alert_updates_total");
    assert_eq!(limited + applied, 2000.0);
    // One bucket: a second's worth, and what refilled while they came
    // (a limit per socket would pass up to four times as many).
    let most = 100.0 + 100.0 * (took + 1.0).ceil();
    assert!(
        (100.0..=most).contains(&applied),
        "{applied} applied in {took:.2} s"
    );
}

/// A UDP socket on a free port of 127.0.0.1 that lets others of this user
/// join the port (`SO_REUSEPORT`).
fn shared_socket() -> socket2::Socket {
    use std::os::fd::AsRawFd;
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::DGRAM, None).unwrap();
    mauved::ingest::set_socket_option(socket.as_raw_fd(), libc::SO_REUSEPORT, 1).unwrap();
    let any: std::net::SocketAddr = "127.0.0.1:0".parse().unwrap();
    socket.bind(&any.into()).unwrap();
    socket
}

/// A port another process holds is refused with several readers as with
/// one, even when the holder would let others join (`SO_REUSEPORT`):
/// packets are not silently shared with it.
#[test]
fn several_readers_do_not_share_a_port_held_elsewhere() {
    let dir = tempfile::tempdir().unwrap();
    let held = shared_socket();
    let port = held.local_addr().unwrap().as_socket().unwrap().port();
    let config = test_config(dir.path(), "").replacen(
        "udp = \"127.0.0.1:0\"\n",
        &format!("udp = \"127.0.0.1:{port}\"\nudp_readers = 4\n"),
        1,
    );
    let file = dir.path().join("mauved.toml");
    std::fs::write(&file, config).unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_mauved"))
        .arg("serve")
        .arg("--config")
        .arg(&file)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // It stops at once; one that started is stopped here and fails the test.
    let exited = wait_for(Duration::from_secs(30), "mauved to stop", || {
        let status = child.try_wait().unwrap();
        if status.is_none() && sockets_on(port) > 1 {
            let _ = child.kill();
            let _ = child.wait();
            panic!("mauved joined a port another socket holds");
        }
        status
    });
    let mut said = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut said).unwrap();
    assert!(!exited.success(), "{said}");
    assert!(said.contains("binding UDP"), "{said}");
    assert_eq!(sockets_on(port), 1, "only the holder's");
}

/// An in-process daemon whose UDP reader has applied a heartbeat, and the
/// address it reads.
fn reading_daemon(dir: &std::path::Path) -> (common::inproc::InProc, std::net::SocketAddr) {
    let clock = mauved::clock::ManualClock::at(now());
    let d = common::inproc::InProc::start(dir, "", &clock);
    d.send(&heartbeat(1, "web1", "heartbeat", now()));
    wait_for(Duration::from_secs(10), "the heartbeat applied", || {
        d.alert("web1", "heartbeat")
    });
    let udp = d.udp();
    assert!(UdpSocket::bind(udp).is_err(), "the daemon holds {udp}");
    (d, udp)
}

/// A stop returns once the reader thread has let go of the port.
#[test]
fn a_stopped_daemon_ends_its_udp_reader() {
    let dir = tempfile::tempdir().unwrap();
    let (d, udp) = reading_daemon(dir.path());
    d.stop();
    UdpSocket::bind(udp).expect("the port let go of by the time the stop returns");
}

/// Dropped without a stop, the daemon's reader thread ends by itself
/// (it looks every 50 ms).
#[test]
fn a_daemon_whose_runtime_is_dropped_ends_its_udp_reader() {
    let dir = tempfile::tempdir().unwrap();
    let (d, udp) = reading_daemon(dir.path());
    d.abandon();
    wait_for(Duration::from_secs(10), "the UDP port let go of", || {
        UdpSocket::bind(udp).ok()
    });
}
