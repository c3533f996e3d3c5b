//! Thread priorities. The media thread forwards packets that people are waiting for;
//! every other thread of the server (HTTP, signaling, the database, stream statistics,
//! recording) can wait a few milliseconds. When they share a core, the kernel's
//! scheduler would otherwise give them equal turns, and a forwarded packet would wait
//! behind a database write: at three defense rooms on one core that was most of the
//! p99 latency (docs/benchmarks.md). So after start-up every thread but the media
//! thread lowers its priority by [`YIELD_NICENESS`]; threads made later inherit it.
//! Lowering one's own priority needs no privilege, and nothing is starved: the other
//! threads still run whenever the media thread does not need the core.

use rustix::process::{Pid, getpriority_process, setpriority_process};

/// How much lower (in nice steps) the other threads run than the media thread: at 10
/// the kernel weighs them about a tenth as heavily.
pub const YIELD_NICENESS: i32 = 10;

/// The largest nice value Linux allows.
const LOWEST: i32 = 19;

/// Lowers every thread of this process except the one whose kernel id is `keep`.
/// Returns how many threads were lowered. Threads that end meanwhile are skipped.
///
/// The kept thread is named by id, not by name: a thread takes its name only once it
/// runs, so a thread just spawned could still carry its parent's name here.
pub fn yield_to(keep: i32) -> std::io::Result<usize> {
    let mut lowered = 0;
    for task in std::fs::read_dir("/proc/self/task")? {
        let task = task?;
        let Some(tid) = task
            .file_name()
            .to_str()
            .and_then(|t| t.parse::<i32>().ok())
            .and_then(Pid::from_raw)
        else {
            continue;
        };
        if tid.as_raw_nonzero().get() == keep {
            continue;
        }
        if lower(tid).is_ok() {
            lowered += 1;
        }
    }
    Ok(lowered)
}

fn lower(tid: Pid) -> rustix::io::Result<()> {
    // On Linux a thread id names that one thread here, not the whole process.
    let now = getpriority_process(Some(tid))?;
    setpriority_process(Some(tid), (now + YIELD_NICENESS).min(LOWEST))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nice_of(tid: i32) -> i32 {
        getpriority_process(Pid::from_raw(tid)).unwrap()
    }

    #[test]
    fn every_thread_but_the_kept_one_is_lowered() {
        // Run in a process of our own making: a test harness thread and two threads,
        // one kept. The harness's other tests' threads are lowered too, which does
        // them no harm.
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let done_rx = std::sync::Arc::new(std::sync::Mutex::new(done_rx));
        let mut handles = Vec::new();
        for _ in 0..2 {
            let (ready, done) = (ready_tx.clone(), done_rx.clone());
            handles.push(std::thread::spawn(move || {
                ready
                    .send(rustix::thread::gettid().as_raw_nonzero().get())
                    .unwrap();
                let _ = done.lock().unwrap().recv();
            }));
        }
        let keep = ready_rx.recv().unwrap();
        let other = ready_rx.recv().unwrap();
        let keep_before = nice_of(keep);
        let other_before = nice_of(other);
        assert!(yield_to(keep).unwrap() >= 2, "this thread and the other");
        assert_eq!(nice_of(keep), keep_before, "the kept thread");
        assert_eq!(nice_of(other), (other_before + YIELD_NICENESS).min(LOWEST));
        // A thread started now by a lowered thread inherits the lower priority.
        let inherited = std::thread::spawn(|| getpriority_process(None).unwrap())
            .join()
            .unwrap();
        assert_eq!(inherited, (other_before + YIELD_NICENESS).min(LOWEST));
        drop(done_tx);
        for h in handles {
            h.join().unwrap();
        }
    }
}
