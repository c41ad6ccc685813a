//! Datagrams taken from the kernel in batches: one `recvmmsg(2)` call hands
//! over up to [`BATCH`] of them, into buffers allocated once and reused, so
//! a burst costs a system call per batch, not per datagram. The load tool's
//! bare receiver reads the same way, so that the two compare like for like.
//!
//! With `SO_RXQ_OVFL` on the socket ([`count_drops`]) each datagram comes
//! with the socket's count of datagrams the kernel dropped so far for want
//! of room: [`Datagrams::dropped`] is the latest.

use std::io;
use std::net::SocketAddr;
use std::os::fd::RawFd;

/// Datagrams taken in one call.
pub const BATCH: usize = 32;
/// Room for each: the largest UDP payload.
const SIZE: usize = 65_536;
/// Room for each datagram's ancillary data: one `SO_RXQ_OVFL` counter
/// (`CMSG_SPACE(4)`: 24 bytes on 64-bit Linux), in u64s so that it is
/// aligned for a `cmsghdr`.
const CONTROL_WORDS: usize = 4;

/// Sets the socket-level option `name` of `fd` to `value`.
pub fn set_socket_option(fd: RawFd, name: libc::c_int, value: libc::c_int) -> io::Result<()> {
    // SAFETY: setsockopt on a descriptor the caller holds, with a pointer
    // to a c_int that lives across the call and its size.
    let set = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            name,
            std::ptr::addr_of!(value).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if set == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Asks the kernel to hand each datagram read from `fd` with the socket's
/// count of datagrams dropped so far.
pub fn count_drops(fd: RawFd) -> io::Result<()> {
    set_socket_option(fd, libc::SO_RXQ_OVFL, 1)
}

/// Reusable room for one batch of datagrams and their senders.
pub struct Datagrams {
    buffers: Vec<u8>,
    names: Vec<libc::sockaddr_storage>,
    controls: Vec<[u64; CONTROL_WORDS]>,
    lens: [usize; BATCH],
    name_lens: [libc::socklen_t; BATCH],
    taken: usize,
    dropped: Option<u32>,
}

impl Default for Datagrams {
    fn default() -> Self {
        Datagrams::new()
    }
}

impl Datagrams {
    pub fn new() -> Datagrams {
        Datagrams {
            buffers: vec![0; BATCH * SIZE],
            // SAFETY: an all-zero sockaddr_storage is a valid (unspecified)
            // address.
            names: vec![unsafe { std::mem::zeroed() }; BATCH],
            controls: vec![[0; CONTROL_WORDS]; BATCH],
            lens: [0; BATCH],
            name_lens: [0; BATCH],
            taken: 0,
            dropped: None,
        }
    }

    /// Takes the datagrams waiting on `fd`, up to [`BATCH`]: how many.
    /// `wait` blocks for the first (as the socket's timeout allows) and
    /// takes the others already there; otherwise nothing waiting is
    /// `WouldBlock`.
    pub fn receive(&mut self, fd: RawFd, wait: bool) -> io::Result<usize> {
        self.taken = 0;
        let mut iovecs: Vec<libc::iovec> = self
            .buffers
            .chunks_exact_mut(SIZE)
            .map(|b| libc::iovec {
                iov_base: b.as_mut_ptr().cast(),
                iov_len: b.len(),
            })
            .collect();
        let mut headers: Vec<libc::mmsghdr> = iovecs
            .iter_mut()
            .zip(self.names.iter_mut())
            .zip(self.controls.iter_mut())
            .map(|((iov, name), control)| {
                // SAFETY: msghdr is plain data; all-zero is a valid empty one.
                let mut header: libc::msghdr = unsafe { std::mem::zeroed() };
                header.msg_name = (name as *mut libc::sockaddr_storage).cast();
                header.msg_namelen =
                    std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
                header.msg_iov = iov;
                header.msg_iovlen = 1;
                header.msg_control = control.as_mut_ptr().cast();
                header.msg_controllen = std::mem::size_of_val(control) as _;
                libc::mmsghdr {
                    msg_hdr: header,
                    msg_len: 0,
                }
            })
            .collect();
        let flags = if wait {
            libc::MSG_WAITFORONE
        } else {
            libc::MSG_DONTWAIT
        };
        // SAFETY: every header points into `self.buffers` (one SIZE chunk
        // each), `self.names` and `self.controls`, which outlive the call
        // and are not moved during it; `headers` holds BATCH entries.
        let n = unsafe {
            libc::recvmmsg(
                fd,
                headers.as_mut_ptr(),
                BATCH as libc::c_uint,
                flags as _,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let n = n as usize;
        for (i, header) in headers.iter().take(n).enumerate() {
            self.lens[i] = (header.msg_len as usize).min(SIZE);
            self.name_lens[i] = header.msg_hdr.msg_namelen;
            if let Some(dropped) = drops_of(&header.msg_hdr) {
                self.dropped = Some(dropped);
            }
        }
        self.taken = n;
        Ok(n)
    }

    /// One round of reading `fd`, a blocking socket with a read timeout:
    /// waits for the first datagrams, then takes those already waiting,
    /// [`BATCH`] a call, until a call brings fewer or `most` are taken.
    /// `each` sees every datagram and its sender. How many were taken: 0
    /// when the timeout passed (or a signal came) with nothing.
    pub fn read_round(
        &mut self,
        fd: RawFd,
        most: usize,
        mut each: impl FnMut(&[u8], Option<SocketAddr>),
    ) -> io::Result<usize> {
        let mut read = 0;
        while read < most {
            let n = match self.receive(fd, read == 0) {
                Ok(n) => n,
                Err(err)
                    if read > 0
                        || matches!(
                            err.kind(),
                            io::ErrorKind::WouldBlock
                                | io::ErrorKind::TimedOut
                                | io::ErrorKind::Interrupted
                        ) =>
                {
                    break
                }
                Err(err) => return Err(err),
            };
            read += n;
            for i in 0..n {
                if let Some((bytes, peer)) = self.get(i) {
                    each(bytes, peer);
                }
            }
            if n < BATCH {
                break;
            }
        }
        Ok(read)
    }

    /// The socket's count of datagrams dropped (it wraps at 2^32), as of
    /// the last datagram taken that carried it; None until one has (see
    /// [`count_drops`]).
    pub fn dropped(&self) -> Option<u32> {
        self.dropped
    }

    /// The `i`th datagram taken, and who sent it (None: an address of a
    /// family other than IPv4 and IPv6).
    pub fn get(&self, i: usize) -> Option<(&[u8], Option<SocketAddr>)> {
        if i >= self.taken {
            return None;
        }
        let bytes = &self.buffers[i * SIZE..i * SIZE + self.lens[i]];
        Some((bytes, socket_addr(&self.names[i], self.name_lens[i])))
    }
}

/// The `SO_RXQ_OVFL` counter among a received message's ancillary data.
fn drops_of(header: &libc::msghdr) -> Option<u32> {
    // SAFETY: the kernel wrote `msg_controllen` bytes of well-formed
    // cmsghdrs into the control buffer `header` points to; CMSG_FIRSTHDR
    // and CMSG_NXTHDR stay within it and return null past the end.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(header);
        while !cmsg.is_null() {
            let c = &*cmsg;
            let data_len = (c.cmsg_len as usize).saturating_sub(libc::CMSG_LEN(0) as usize);
            if c.cmsg_level == libc::SOL_SOCKET
                && c.cmsg_type == libc::SO_RXQ_OVFL
                && data_len >= std::mem::size_of::<u32>()
            {
                return Some(std::ptr::read_unaligned(
                    libc::CMSG_DATA(cmsg).cast::<u32>(),
                ));
            }
            cmsg = libc::CMSG_NXTHDR(header, cmsg);
        }
    }
    None
}

/// The address the kernel wrote (`len` bytes of it), if IPv4 or IPv6.
fn socket_addr(storage: &libc::sockaddr_storage, len: libc::socklen_t) -> Option<SocketAddr> {
    use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6};
    let len = len as usize;
    match i32::from(storage.ss_family) {
        libc::AF_INET if len >= std::mem::size_of::<libc::sockaddr_in>() => {
            // SAFETY: the family says the storage holds a sockaddr_in, and
            // sockaddr_storage is large and aligned enough for one.
            let a =
                unsafe { &*(storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            let ip = Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr));
            Some(SocketAddr::V4(SocketAddrV4::new(
                ip,
                u16::from_be(a.sin_port),
            )))
        }
        libc::AF_INET6 if len >= std::mem::size_of::<libc::sockaddr_in6>() => {
            // SAFETY: as above, for a sockaddr_in6.
            let a = unsafe {
                &*(storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>()
            };
            let ip = Ipv6Addr::from(a.sin6_addr.s6_addr);
            let port = u16::from_be(a.sin6_port);
            Some(SocketAddr::V6(SocketAddrV6::new(
                ip,
                port,
                a.sin6_flowinfo,
                a.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;
    use std::os::fd::AsRawFd;

    fn exchange(local: &str) {
        let receiver = UdpSocket::bind(local).unwrap();
        receiver.set_nonblocking(true).unwrap();
        let sender = UdpSocket::bind(local).unwrap();
        let sizes: Vec<usize> = (0..100).map(|i| [0, 1, 200, 1400, 60_000][i % 5]).collect();
        let mut datagrams = Datagrams::new();
        let mut got = Vec::new();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        // Five at a time (one of 60,000 bytes): within any receive buffer.
        for (i, &size) in sizes.iter().enumerate() {
            let payload: Vec<u8> = (0..size).map(|b| (b + i) as u8).collect();
            sender
                .send_to(&payload, receiver.local_addr().unwrap())
                .unwrap();
            if i % 5 < 4 {
                continue;
            }
            while got.len() < i + 1 {
                assert!(
                    std::time::Instant::now() < deadline,
                    "{} of {} received",
                    got.len(),
                    i + 1
                );
                match datagrams.receive(receiver.as_raw_fd(), false) {
                    Ok(n) => {
                        assert!(n <= BATCH);
                        for i in 0..n {
                            let (bytes, peer) = datagrams.get(i).unwrap();
                            assert_eq!(peer, Some(sender.local_addr().unwrap()));
                            got.push(bytes.to_vec());
                        }
                        assert!(datagrams.get(n).is_none());
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => std::thread::yield_now(),
                    Err(e) => panic!("{e}"),
                }
            }
        }
        for (i, (bytes, &size)) in got.iter().zip(&sizes).enumerate() {
            let want: Vec<u8> = (0..size).map(|b| (b + i) as u8).collect();
            assert_eq!(bytes, &want, "datagram {i}");
        }
        assert_eq!(
            datagrams
                .receive(receiver.as_raw_fd(), false)
                .unwrap_err()
                .kind(),
            io::ErrorKind::WouldBlock
        );
    }

    /// Takes every datagram waiting on `socket`: how many.
    fn take_all(datagrams: &mut Datagrams, socket: &UdpSocket) -> usize {
        let mut taken = 0;
        loop {
            match datagrams.receive(socket.as_raw_fd(), false) {
                Ok(n) => taken += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return taken,
                Err(e) => panic!("{e}"),
            }
        }
    }

    #[test]
    fn the_kernels_drops_are_counted_with_the_datagrams() {
        let receiver = UdpSocket::bind("127.0.0.1:0").unwrap();
        receiver.set_nonblocking(true).unwrap();
        set_socket_option(receiver.as_raw_fd(), libc::SO_RCVBUF, 4096).unwrap();
        count_drops(receiver.as_raw_fd()).unwrap();
        let sender = UdpSocket::bind("127.0.0.1:0").unwrap();
        let to = receiver.local_addr().unwrap();
        let mut datagrams = Datagrams::new();
        // Nothing dropped yet: nothing said.
        sender.send_to(b"first", to).unwrap();
        assert_eq!(take_all(&mut datagrams, &receiver), 1);
        assert_eq!(datagrams.dropped(), None);
        // Far more than a few KiB of buffer holds, unread: most are dropped.
        const SENT: usize = 300;
        for _ in 0..SENT {
            sender.send_to(&[7; 1000], to).unwrap();
        }
        let mut taken = take_all(&mut datagrams, &receiver);
        // The counter comes with the next datagram queued after the drops.
        sender.send_to(b"last", to).unwrap();
        taken += take_all(&mut datagrams, &receiver);
        let dropped = datagrams.dropped().expect("drops counted") as usize;
        assert!(
            dropped > 0 && taken < SENT,
            "{taken} taken, {dropped} dropped"
        );
        assert_eq!(
            taken + dropped,
            SENT + 1,
            "{taken} taken, {dropped} dropped"
        );
    }

    #[test]
    fn batches_hand_over_every_datagram_whole_with_its_sender() {
        exchange("127.0.0.1:0");
        exchange("[::1]:0");
    }
}
