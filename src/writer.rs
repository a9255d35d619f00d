//! The writer pool: a few threads that do every write to every member.
//!
//! Thread budget (see the README): each member has ONE thread of its own, its reader. Writes are
//! shared out over a small pool, member `id` always on lane `id % lanes`, so one member's lines
//! stay in order. A lane writes with the socket's write timeout: the kernel's send buffer is the
//! member's queue, and a member whose buffer stays full for that long has stopped reading. It is
//! evicted and the lane moves on, so a stalled member costs the others at most one timeout.

use crate::hub::{Farewell, MemberId, Outgoing, Outlet};
use crossbeam_channel::{Receiver, Sender, TryRecvError};
use std::collections::HashMap;
use std::io;
use std::sync::Arc;
use std::thread::{self, JoinHandle};

/// Broadcasts already queued behind one another are written to a member in one call, up to this
/// many (a join storm of 10,000 members is 50 million notice deliveries: batching makes them
/// a few hundred thousand system calls). Well under the kernel's 1,024 slices per `writev`.
const MAX_BATCH: usize = 256;
/// Jobs waiting for one lane; when full, the hub waits (backpressure, never unbounded memory).
/// A lane stuck on a stalled member holds this many lines for up to `write_timeout`: at the
/// 8 KiB line limit (8 KiB wire + 8 KiB frame) that is 16 MiB; 8,192 was 128 MiB.
const LANE_CAPACITY: usize = 1024;

pub(crate) enum Job {
    Add(MemberId, Arc<dyn Outlet>),
    /// One line to every member of the lane.
    Broadcast(Arc<Outgoing>),
    /// One line to one member.
    To(MemberId, Arc<Outgoing>),
    /// Forget a member, saying goodbye first if there is a farewell.
    Remove(MemberId, Option<Farewell>),
}

/// A member the pool dropped because a write failed: gone, or too slow.
pub(crate) struct Eviction {
    pub id: MemberId,
    pub kind: io::ErrorKind,
}

pub(crate) struct WriterPool {
    lanes: Vec<Sender<Job>>,
    threads: Vec<JoinHandle<()>>,
}

impl WriterPool {
    pub fn start(lanes: usize, evictions: Sender<Eviction>) -> io::Result<WriterPool> {
        let mut pool = WriterPool {
            lanes: Vec::new(),
            threads: Vec::new(),
        };
        for n in 0..lanes.max(1) {
            let (tx, rx) = crossbeam_channel::bounded(LANE_CAPACITY);
            let evictions = evictions.clone();
            let thread = thread::Builder::new()
                .name(format!("writer-{n}"))
                .spawn(move || Lane::default().run(rx, evictions))?;
            pool.lanes.push(tx);
            pool.threads.push(thread);
        }
        Ok(pool)
    }

    fn lane(&self, id: MemberId) -> &Sender<Job> {
        &self.lanes[(id % self.lanes.len() as u64) as usize]
    }

    pub fn add(&self, id: MemberId, outlet: Arc<dyn Outlet>) {
        let _ = self.lane(id).send(Job::Add(id, outlet));
    }

    pub fn to(&self, id: MemberId, line: &Arc<Outgoing>) {
        let _ = self.lane(id).send(Job::To(id, line.clone()));
    }

    pub fn remove(&self, id: MemberId, farewell: Option<Farewell>) {
        let _ = self.lane(id).send(Job::Remove(id, farewell));
    }

    pub fn broadcast(&self, line: &Arc<Outgoing>) {
        for lane in &self.lanes {
            let _ = lane.send(Job::Broadcast(line.clone()));
        }
    }

    /// Lets every lane finish its queue, then joins the threads.
    pub fn stop(self) {
        drop(self.lanes);
        for thread in self.threads {
            let _ = thread.join();
        }
    }
}

#[derive(Default)]
struct Lane {
    members: HashMap<MemberId, Arc<dyn Outlet>>,
}

impl Lane {
    fn run(mut self, jobs: Receiver<Job>, evictions: Sender<Eviction>) {
        let mut batch: Vec<Arc<Outgoing>> = Vec::new();
        let mut next = jobs.recv().ok();
        while let Some(job) = next.take() {
            match job {
                Job::Broadcast(line) => {
                    batch.push(line);
                    while batch.len() < MAX_BATCH {
                        match jobs.try_recv() {
                            Ok(Job::Broadcast(line)) => batch.push(line),
                            Ok(other) => {
                                next = Some(other);
                                break;
                            }
                            Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
                        }
                    }
                    let failed: Vec<(MemberId, io::Error)> = self
                        .members
                        .iter()
                        .filter_map(|(&id, outlet)| outlet.send(&batch).err().map(|e| (id, e)))
                        .collect();
                    for (id, error) in failed {
                        self.evict(id, error, &evictions);
                    }
                    batch.clear();
                }
                Job::To(id, line) => {
                    let sent = self
                        .members
                        .get(&id)
                        .map(|outlet| outlet.send(std::slice::from_ref(&line)));
                    if let Some(Err(error)) = sent {
                        self.evict(id, error, &evictions);
                    }
                }
                Job::Add(id, outlet) => {
                    self.members.insert(id, outlet);
                }
                Job::Remove(id, farewell) => {
                    if let (Some(outlet), Some(farewell)) = (self.members.remove(&id), farewell) {
                        outlet.close(&farewell);
                    }
                }
            }
            if next.is_none() {
                next = jobs.recv().ok();
            }
        }
    }

    fn evict(&mut self, id: MemberId, error: io::Error, evictions: &Sender<Eviction>) {
        if let Some(outlet) = self.members.remove(&id) {
            // Tell the hub before closing: closing wakes the member's reader, whose "left" must
            // not overtake the reason.
            let kind = error.kind();
            let _ = evictions.send(Eviction { id, kind });
            outlet.close(&Farewell::TooSlow);
        }
    }
}

/// Writes all of `bufs` (like `write_all`, for a gather list): broadcasts already encoded once
/// are handed to the kernel as they are, without being copied into one buffer first.
pub fn write_all_vectored(mut w: impl io::Write, bufs: &mut [io::IoSlice<'_>]) -> io::Result<()> {
    let mut bufs = bufs;
    io::IoSlice::advance_slices(&mut bufs, 0);
    while !bufs.is_empty() {
        match w.write_vectored(bufs) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => io::IoSlice::advance_slices(&mut bufs, n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer that takes at most 3 bytes a call, like a nearly full socket.
    struct Trickle(Vec<u8>);
    impl io::Write for Trickle {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let n = buf.len().min(3);
            self.0.extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn vectored_write_survives_short_writes() {
        let mut out = Trickle(Vec::new());
        let mut bufs = [
            io::IoSlice::new(b"hello "),
            io::IoSlice::new(b""),
            io::IoSlice::new(b"world\n"),
        ];
        write_all_vectored(&mut out, &mut bufs).unwrap();
        assert_eq!(out.0, b"hello world\n");
    }
}
