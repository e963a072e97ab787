//! Connection threads ([`ServerConfig::connection_threads`](super::ServerConfig)): a few
//! threads, each running a single-threaded tokio runtime, that connections are placed on.
//!
//! A connection is several tasks (the driver that reads, decrypts and writes the socket, a
//! task per session, the handler's calls, forwarding) that wake each other for every
//! packet. On a multi-threaded runtime those wake-ups cross worker threads (a futex and a
//! context switch each); on one thread the woken task simply runs next. Every task the
//! connection spawns with `tokio::spawn` lands on its thread too, since that spawns on the
//! runtime the caller runs on.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::net::TcpStream;
use tokio::runtime::Handle;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The threads. Each ends once this is dropped: [`Threads::spawn`] keeps an `Arc` of it in
/// every connection task, so the threads outlive the [`Server`](super::Server) for as long
/// as connections it accepted are open.
pub(crate) struct Threads {
    workers: Vec<Worker>,
}

struct Worker {
    handle: Handle,
    /// Connections running on this thread.
    load: Arc<AtomicUsize>,
    /// Dropping it ends the thread's `block_on`, which drops its runtime (and any task
    /// still on it).
    _stop: oneshot::Sender<()>,
}

impl Threads {
    /// Starts `n` threads (none for 0: [`Threads::spawn`] then spawns on the caller's runtime).
    pub(crate) fn start(n: usize) -> std::io::Result<Arc<Self>> {
        let mut workers = Vec::with_capacity(n);
        for i in 0..n {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let handle = rt.handle().clone();
            let (stop, stopped) = oneshot::channel::<()>();
            std::thread::Builder::new()
                .name(format!("whelk-conn-{i}"))
                .spawn(move || {
                    let _ = rt.block_on(stopped);
                })?;
            workers.push(Worker {
                handle,
                load: Arc::new(AtomicUsize::new(0)),
                _stop: stop,
            });
        }
        Ok(Arc::new(Self { workers }))
    }

    /// Runs `serve` with `stream` (accepted on the caller's runtime) on the thread with
    /// the fewest connections, or on the caller's runtime when there are no threads. The
    /// socket moves to the chosen thread's own reactor first: left registered with the
    /// caller's, every readiness event would wake a thread of that runtime, which would
    /// then wake the connection's thread. `serve` gets the error if the move fails.
    pub(crate) fn spawn_with_stream<F, Fut>(
        self: &Arc<Self>,
        stream: TcpStream,
        serve: F,
    ) -> JoinHandle<()>
    where
        F: FnOnce(std::io::Result<TcpStream>) -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        if self.workers.is_empty() {
            return tokio::spawn(serve(Ok(stream)));
        }
        let stream = stream.into_std();
        self.spawn(async move { serve(stream.and_then(TcpStream::from_std)).await })
    }

    /// Runs `connection` on the thread with the fewest connections, or on the caller's
    /// runtime when there are no threads.
    pub(crate) fn spawn<F>(self: &Arc<Self>, connection: F) -> JoinHandle<()>
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let Some(worker) = self
            .workers
            .iter()
            .min_by_key(|w| w.load.load(Ordering::Relaxed))
        else {
            return tokio::spawn(connection);
        };
        let load = Load::new(worker.load.clone());
        let threads = self.clone();
        worker.handle.spawn(async move {
            // Dropped in this order when the task ends or is aborted: the count first, the
            // threads (possibly the last reference, ending them) last.
            let _load = load;
            connection.await;
            drop(threads);
        })
    }
}

/// One connection counted in a worker's load while it lives.
struct Load(Arc<AtomicUsize>);

impl Load {
    fn new(count: Arc<AtomicUsize>) -> Self {
        count.fetch_add(1, Ordering::Relaxed);
        Self(count)
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn connections_spread_and_stay_on_their_thread() {
        let threads = Threads::start(2).unwrap();
        let (release, wait) = tokio::sync::watch::channel(false);
        let mut tasks = Vec::new();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        for _ in 0..4 {
            let tx = tx.clone();
            let mut wait = wait.clone();
            tasks.push(threads.spawn(async move {
                let outer = std::thread::current().id();
                // A task the connection spawns runs on the same thread.
                let inner = tokio::spawn(async { std::thread::current().id() })
                    .await
                    .unwrap();
                tx.send((outer, inner)).unwrap();
                let _ = wait.wait_for(|r| *r).await;
            }));
        }
        let mut seen = std::collections::HashMap::new();
        for _ in 0..4 {
            let (outer, inner) = rx.recv().await.unwrap();
            assert_eq!(outer, inner);
            assert_ne!(outer, std::thread::current().id());
            *seen.entry(outer).or_insert(0) += 1;
        }
        // Least loaded first: two connections on each thread.
        assert_eq!(seen.len(), 2);
        assert!(seen.values().all(|&n| n == 2), "{seen:?}");
        release.send(true).unwrap();
        for t in tasks {
            t.await.unwrap();
        }
        assert!(
            threads
                .workers
                .iter()
                .all(|w| w.load.load(Ordering::Relaxed) == 0)
        );
    }

    #[tokio::test]
    async fn an_accepted_socket_moves_to_the_connection_thread_reactor() {
        let threads = Threads::start(1).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let peer = std::thread::spawn(move || {
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            std::thread::sleep(std::time::Duration::from_millis(50));
            std::io::Write::write_all(&mut s, b"hello").unwrap();
            s
        });
        let (stream, _) = listener.accept().await.unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let _task = threads.spawn_with_stream(stream, move |stream| async move {
            let mut buf = [0u8; 5];
            let got = tokio::io::AsyncReadExt::read_exact(&mut stream.unwrap(), &mut buf).await;
            let _ = tx.send(got.map(|_| buf));
        });
        // This test's runtime is blocked from here on: had the socket stayed registered
        // with its reactor, the read on the connection's thread would never be woken.
        let got = rx.recv_timeout(std::time::Duration::from_secs(20));
        assert_eq!(got.unwrap().unwrap(), *b"hello");
        drop(peer.join().unwrap());
    }

    #[tokio::test]
    async fn threads_outlive_their_owner_while_connections_run() {
        let threads = Threads::start(1).unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let task = threads.spawn(async move {
            let _ = rx.await;
        });
        drop(threads);
        // The connection still runs: it completes once told to.
        tx.send(()).unwrap();
        task.await.unwrap();
    }

    #[tokio::test]
    async fn no_threads_spawns_on_the_caller_runtime() {
        let threads = Threads::start(0).unwrap();
        let here = std::thread::current().id();
        let (tx, rx) = oneshot::channel();
        threads
            .spawn(async move {
                let _ = tx.send(std::thread::current().id());
            })
            .await
            .unwrap();
        // A current-thread test runtime: the task ran on this thread.
        assert_eq!(rx.await.unwrap(), here);
    }
}
