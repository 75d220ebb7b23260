//! A PostgreSQL wire proxy that counts the statements its clients send: each
//! Execute ('E') of the extended protocol and each simple Query ('Q'). It
//! reads the frontend stream only, so it counts what any client does,
//! whatever its driver; connect through it with `sslmode=disable`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub struct StatementCounter {
    pub addr: SocketAddr,
    count: Arc<AtomicU64>,
}

impl StatementCounter {
    pub async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let count = Arc::new(AtomicU64::new(0));
        let counted = count.clone();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = TcpStream::connect(target).await else {
                    continue;
                };
                tokio::spawn(pipe(client, server, counted.clone()));
            }
        });
        StatementCounter { addr, count }
    }

    pub fn statements(&self) -> u64 {
        self.count.load(Ordering::SeqCst)
    }
}

async fn pipe(client: TcpStream, server: TcpStream, count: Arc<AtomicU64>) {
    let (mut client_rx, mut client_tx) = client.into_split();
    let (mut server_rx, mut server_tx) = server.into_split();
    tokio::spawn(async move {
        let _ = tokio::io::copy(&mut server_rx, &mut client_tx).await;
    });
    let mut frontend = Frontend::default();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match client_rx.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        count.fetch_add(frontend.feed(&buf[..n]), Ordering::SeqCst);
        if server_tx.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

/// The frontend stream, message by message: untyped start-up messages
/// (length first) until the StartupMessage itself, then typed ones.
#[derive(Default)]
struct Frontend {
    pending: Vec<u8>,
    started: bool,
}

const SSL_REQUEST: u32 = 80_877_103;

impl Frontend {
    /// Takes the next bytes; returns how many statements they completed.
    fn feed(&mut self, bytes: &[u8]) -> u64 {
        self.pending.extend_from_slice(bytes);
        let mut statements = 0;
        loop {
            let header = if self.started { 5 } else { 4 };
            if self.pending.len() < header {
                return statements;
            }
            let at = header - 4;
            let len = u32::from_be_bytes(self.pending[at..at + 4].try_into().unwrap()) as usize;
            let total = at + len;
            if self.pending.len() < total {
                return statements;
            }
            if self.started {
                if matches!(self.pending[0], b'E' | b'Q') {
                    statements += 1;
                }
            } else {
                let code = u32::from_be_bytes(self.pending[4..8].try_into().unwrap());
                self.started = code != SSL_REQUEST;
            }
            self.pending.drain(..total);
        }
    }
}
