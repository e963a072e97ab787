//! A thread that keeps starting processes, for tests of what a process-spawning program
//! must get right: a child holds a copy of every descriptor of the parent from the moment
//! it is created until it execs, so a listener that is merely closed keeps listening in
//! it meanwhile.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

/// Starts `true` again and again on a thread of its own until [`ProcessChurn::finish`]ed
/// or dropped.
#[derive(Debug)]
pub struct ProcessChurn {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<std::io::Result<usize>>>,
}

impl ProcessChurn {
    /// Starts the thread.
    #[must_use]
    pub fn start() -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut n = 0;
            while !stopped.load(Ordering::SeqCst) {
                let st = std::process::Command::new("true").status()?;
                if !st.success() {
                    return Err(std::io::Error::other(format!("`true` failed: {st}")));
                }
                n += 1;
            }
            Ok(n)
        });
        Self {
            stop,
            thread: Some(thread),
        }
    }

    /// Stops the thread and returns how many processes it started (an error if one could
    /// not be started or failed).
    pub fn finish(mut self) -> std::io::Result<usize> {
        self.stop.store(true, Ordering::SeqCst);
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(r)) => r,
            Some(Err(_)) => Err(std::io::Error::other("the process thread panicked")),
            None => Ok(0),
        }
    }
}

impl Drop for ProcessChurn {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}
