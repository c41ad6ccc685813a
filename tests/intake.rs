//! End-to-end: what the kernel drops at the UDP socket is counted.

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
