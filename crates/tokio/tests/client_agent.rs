//! Publickey authentication through an ssh-agent that takes its time: the agent's round
//! trip runs beside the connection's driver, so a connection waiting for its signature
//! stalls nothing else (here on a single-threaded runtime, where a blocking driver would
//! stall every task), and login completes once the agent answers, or falls back to the
//! next key when it refuses.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod server_common;

use server_common::*;
use tokio::sync::mpsc;
use whelk_agent::proto::{AddIdentity, Constraint};
use whelk_agent::unix::{ServerHandle, UnixServer};

/// An agent (whelk-agent's server) holding `key` with the confirm constraint: each
/// signature waits until the test sends the confirmation's answer on the returned sender.
/// The receiver gets a message when a signature request is waiting.
struct SlowAgent {
    _handle: ServerHandle,
    sock: PathBuf,
    asked: mpsc::UnboundedReceiver<()>,
    answer: std::sync::mpsc::Sender<bool>,
}

impl SlowAgent {
    fn start(dir: &Path, key: PrivateKey) -> Self {
        let sock = dir.join("agent.sock");
        let mut server = UnixServer::bind(&sock, whelk_agent::Agent::new()).unwrap();
        let added = server.agent().lock().unwrap().add(
            AddIdentity {
                key,
                certificate: None,
                comment: bytes::Bytes::from_static(b"slow"),
                constraints: vec![Constraint::Confirm],
            },
            server.now(),
        );
        assert!(added);
        let (asked_tx, asked) = mpsc::unbounded_channel();
        let (answer, answers) = std::sync::mpsc::channel::<bool>();
        let answers = Mutex::new(answers);
        server.set_confirm(Arc::new(move |_| {
            let _ = asked_tx.send(());
            answers.lock().unwrap().recv_timeout(GUARD).unwrap_or(false)
        }));
        Self {
            _handle: server.spawn(),
            sock,
            asked,
            answer,
        }
    }

    /// Waits until a signature request is held by the confirmation.
    async fn wait_asked(&mut self) {
        tokio::time::timeout(GUARD, self.asked.recv())
            .await
            .expect("the agent was never asked to sign")
            .unwrap();
    }
}

fn fixture_key(f: &Fixture) -> PrivateKey {
    PrivateKey::from_openssh(&std::fs::read_to_string(&f.key).unwrap(), None).unwrap()
}

async fn split(c: &whelk_tokio::Client) -> whelk_tokio::Output {
    tokio::time::timeout(GUARD, c.run("split"))
        .await
        .expect("a command stalled while another login waited for the agent")
        .unwrap()
}

// Single-threaded on purpose: a driver that blocked on the agent would stall this task.
#[tokio::test]
async fn slow_agent_stalls_no_other_connection_and_login_completes() {
    let f = Fixture::start(false, |_| {}).await;
    let mut agent = SlowAgent::start(f.dir.path(), fixture_key(&f));
    let busy = connect("127.0.0.1", f.addr().port(), f.whelk_config())
        .await
        .unwrap();

    let config = ClientConfig::new("alice")
        .host_key(HostKeyPolicy::AcceptAny)
        .agent(&agent.sock);
    let login = tokio::spawn(connect("127.0.0.1", f.addr().port(), config));
    agent.wait_asked().await;
    // The login waits for the agent; the other connection works meanwhile, twice over.
    for _ in 0..2 {
        let out = split(&busy).await;
        assert_eq!(out.stdout, b"to stdout\n");
        assert_eq!(out.exit_status, Some(3));
    }
    assert!(!login.is_finished());
    agent.answer.send(true).unwrap();
    let c = tokio::time::timeout(GUARD, login)
        .await
        .expect("login hung after the agent answered")
        .unwrap()
        .unwrap();
    assert_eq!(split(&c).await.exit_status, Some(3));
    c.disconnect().await;
    busy.disconnect().await;
}

#[tokio::test]
async fn slow_agent_refusal_falls_back_to_the_next_key() {
    let f = Fixture::start(false, |_| {}).await;
    let mut agent = SlowAgent::start(f.dir.path(), fixture_key(&f));
    // The agent's identity comes first; the same key from memory after it.
    let config = f.whelk_config().agent(&agent.sock);
    let login = tokio::spawn(connect("127.0.0.1", f.addr().port(), config));
    agent.wait_asked().await;
    agent.answer.send(false).unwrap();
    let c = tokio::time::timeout(GUARD, login)
        .await
        .expect("login hung after the agent refused")
        .unwrap()
        .unwrap();
    assert_eq!(split(&c).await.exit_status, Some(3));
    c.disconnect().await;
}
