//! A TCP proxy the test controls: `cut` drops every live connection and
//! closes the port (new connections are refused) until `restore`; `slow`
//! holds back every chunk the target sends by a delay.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub struct Proxy {
    pub addr: SocketAddr,
    target: SocketAddr,
    up: Arc<AtomicBool>,
    /// Milliseconds each chunk from the target is held back.
    delay_ms: Arc<AtomicU64>,
    cuts: watch::Sender<u64>,
    accept: Mutex<Option<JoinHandle<()>>>,
}

impl Proxy {
    pub async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy = Proxy {
            addr: listener.local_addr().unwrap(),
            target,
            up: Arc::new(AtomicBool::new(true)),
            delay_ms: Arc::new(AtomicU64::new(0)),
            cuts: watch::channel(0u64).0,
            accept: Mutex::new(None),
        };
        proxy.serve(listener);
        proxy
    }

    fn serve(&self, listener: TcpListener) {
        let (up, delay, cuts, target) = (
            self.up.clone(),
            self.delay_ms.clone(),
            self.cuts.clone(),
            self.target,
        );
        let task = tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                if !up.load(Ordering::SeqCst) {
                    continue;
                }
                let mut cut = cuts.subscribe();
                let delay = delay.clone();
                tokio::spawn(async move {
                    let Ok(outbound) = TcpStream::connect(target).await else {
                        return;
                    };
                    let _ = inbound.set_nodelay(true);
                    let _ = outbound.set_nodelay(true);
                    let (in_read, in_write) = inbound.into_split();
                    let (out_read, out_write) = outbound.into_split();
                    let quiet = Arc::new(AtomicU64::new(0));
                    tokio::select! {
                        _ = async {
                            tokio::join!(
                                pump(in_read, out_write, quiet),
                                pump(out_read, in_write, delay),
                            )
                        } => {}
                        _ = cut.changed() => {}
                    }
                });
            }
        });
        *self.accept.lock().unwrap() = Some(task);
    }

    /// Drops every connection and closes the port: connecting is refused.
    pub fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        if let Some(task) = self.accept.lock().unwrap().take() {
            task.abort();
        }
        self.cuts.send_modify(|n| *n += 1);
    }

    /// Drops every connection and keeps the port open: clients reconnect.
    pub fn sever(&self) {
        self.cuts.send_modify(|n| *n += 1);
    }

    /// Opens the port again, at the same address.
    pub fn restore(&self) {
        if self.accept.lock().unwrap().is_none() {
            let listener = std::net::TcpListener::bind(self.addr).expect("rebind the proxy port");
            listener.set_nonblocking(true).unwrap();
            self.serve(TcpListener::from_std(listener).unwrap());
        }
        self.up.store(true, Ordering::SeqCst);
    }

    /// Holds back every chunk the target sends by `delay` (zero: none).
    pub fn slow(&self, delay: Duration) {
        self.delay_ms
            .store(delay.as_millis() as u64, Ordering::SeqCst);
    }
}

/// Copies one direction until either side closes, after the set delay.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    delay_ms: Arc<AtomicU64>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let delay = delay_ms.load(Ordering::SeqCst);
        if delay > 0 {
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(task) = self.accept.lock().unwrap().take() {
            task.abort();
        }
        self.cuts.send_modify(|n| *n += 1);
    }
}
