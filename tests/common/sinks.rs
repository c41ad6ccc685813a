//! Receivers the tests start on 127.0.0.1: a small SMTP server that keeps
//! every e-mail, and an HTTP server that keeps every request body. Each runs
//! on its own thread until the test ends.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// One e-mail as the SMTP sink received it.
#[derive(Clone, Debug)]
pub struct Mail {
    pub from: String,
    pub to: Vec<String>,
    /// Headers and body as sent (after DATA).
    pub data: String,
}

/// An SMTP server on 127.0.0.1. While not `accepting`, it answers every
/// transaction with a temporary failure (421), as a mail server that is
/// down for maintenance would.
pub struct SmtpSink {
    pub addr: SocketAddr,
    pub mails: Arc<Mutex<Vec<Mail>>>,
    pub accepting: Arc<AtomicBool>,
}

impl SmtpSink {
    pub fn start(accepting: bool) -> SmtpSink {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let sink = SmtpSink {
            addr: listener.local_addr().unwrap(),
            mails: Arc::default(),
            accepting: Arc::new(AtomicBool::new(accepting)),
        };
        let (mails, accepting) = (sink.mails.clone(), sink.accepting.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let (mails, accepting) = (mails.clone(), accepting.clone());
                std::thread::spawn(move || {
                    let _ = session(conn, &mails, &accepting);
                });
            }
        });
        sink
    }

    pub fn mails(&self) -> Vec<Mail> {
        self.mails.lock().unwrap().clone()
    }
}

fn session(
    conn: TcpStream,
    mails: &Mutex<Vec<Mail>>,
    accepting: &AtomicBool,
) -> std::io::Result<()> {
    conn.set_read_timeout(Some(std::time::Duration::from_secs(10)))?;
    let mut out = conn.try_clone()?;
    let mut lines = BufReader::new(conn);
    if !accepting.load(Ordering::SeqCst) {
        out.write_all(b"421 sink: not accepting mail now\r\n")?;
        return Ok(());
    }
    out.write_all(b"220 sink ESMTP\r\n")?;
    let mut mail = Mail {
        from: String::new(),
        to: Vec::new(),
        data: String::new(),
    };
    let mut line = String::new();
    loop {
        line.clear();
        if lines.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let upper = line.to_ascii_uppercase();
        let reply: &[u8] = if upper.starts_with("EHLO") || upper.starts_with("HELO") {
            b"250-sink\r\n250 8BITMIME\r\n"
        } else if upper.starts_with("MAIL FROM:") {
            mail.from = line[10..].trim().to_owned();
            b"250 OK\r\n"
        } else if upper.starts_with("RCPT TO:") {
            mail.to
                .push(line[8..].trim().trim_matches(['<', '>']).to_owned());
            b"250 OK\r\n"
        } else if upper.starts_with("DATA") {
            out.write_all(b"354 go on\r\n")?;
            let mut data = String::new();
            loop {
                line.clear();
                if lines.read_line(&mut line)? == 0 {
                    return Ok(());
                }
                if line == ".\r\n" || line == ".\n" {
                    break;
                }
                data.push_str(&line);
            }
            mail.data = data;
            mails.lock().unwrap().push(std::mem::replace(
                &mut mail,
                Mail {
                    from: String::new(),
                    to: Vec::new(),
                    data: String::new(),
                },
            ));
            b"250 queued\r\n"
        } else if upper.starts_with("QUIT") {
            out.write_all(b"221 bye\r\n")?;
            return Ok(());
        } else if upper.starts_with("RSET") || upper.starts_with("NOOP") {
            b"250 OK\r\n"
        } else {
            b"502 not here\r\n"
        };
        out.write_all(reply)?;
    }
}

/// One request the HTTP sink received.
#[derive(Clone, Debug)]
pub struct Hit {
    pub path: String,
    pub body: String,
    pub method: String,
    /// Names in lower case.
    pub headers: Vec<(String, String)>,
    /// When it was read.
    pub at: std::time::Instant,
}

impl Hit {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// An HTTP server on 127.0.0.1 that answers `status` (200 unless set):
/// 0 means "read the request and never answer".
pub struct HttpSink {
    pub addr: SocketAddr,
    pub hits: Arc<Mutex<Vec<Hit>>>,
    pub status: Arc<std::sync::atomic::AtomicU16>,
    /// Answers to give first, in order (status, extra header lines), before
    /// `status`; every request is kept in `seen`, whatever the answer.
    pub answers: Arc<Mutex<std::collections::VecDeque<(u16, String)>>>,
    pub seen: Arc<Mutex<Vec<Hit>>>,
}

impl HttpSink {
    pub fn start() -> HttpSink {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let sink = HttpSink {
            addr: listener.local_addr().unwrap(),
            hits: Arc::default(),
            status: Arc::new(std::sync::atomic::AtomicU16::new(200)),
            answers: Arc::default(),
            seen: Arc::default(),
        };
        let shared = Shared {
            hits: sink.hits.clone(),
            status: sink.status.clone(),
            answers: sink.answers.clone(),
            seen: sink.seen.clone(),
        };
        std::thread::spawn(move || {
            let shared = Arc::new(shared);
            for conn in listener.incoming().flatten() {
                let shared = shared.clone();
                std::thread::spawn(move || {
                    let _ = serve(conn, &shared);
                });
            }
        });
        sink
    }

    pub fn hits(&self) -> Vec<Hit> {
        self.hits.lock().unwrap().clone()
    }
}

struct Shared {
    hits: Arc<Mutex<Vec<Hit>>>,
    status: Arc<std::sync::atomic::AtomicU16>,
    answers: Arc<Mutex<std::collections::VecDeque<(u16, String)>>>,
    seen: Arc<Mutex<Vec<Hit>>>,
}

fn serve(conn: TcpStream, shared: &Shared) -> std::io::Result<()> {
    conn.set_read_timeout(Some(std::time::Duration::from_secs(10)))?;
    let mut out = conn.try_clone()?;
    let mut reader = BufReader::new(conn);
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line)? == 0 {
            return Ok(());
        }
        let mut words = request_line.split_whitespace();
        let method = words.next().unwrap_or_default().to_owned();
        let path = words.next().unwrap_or_default().to_owned();
        let mut length = 0;
        let mut headers = Vec::new();
        loop {
            let mut header = String::new();
            reader.read_line(&mut header)?;
            if header.trim().is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().unwrap_or(0);
                }
                headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body)?;
        let hit = Hit {
            path,
            body: String::from_utf8_lossy(&body).into_owned(),
            method,
            headers,
            at: std::time::Instant::now(),
        };
        shared.seen.lock().unwrap().push(hit.clone());
        let (answer, extra) = shared
            .answers
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or_else(|| {
                (
                    shared.status.load(std::sync::atomic::Ordering::SeqCst),
                    String::new(),
                )
            });
        if answer == 0 {
            // Never answer: hold the connection until the client gives up.
            std::thread::sleep(std::time::Duration::from_secs(30));
            return Ok(());
        }
        if answer == 200 {
            shared.hits.lock().unwrap().push(hit);
        }
        out.write_all(
            format!("HTTP/1.1 {answer} X\r\n{extra}content-length: 0\r\n\r\n").as_bytes(),
        )?;
    }
}
