//! Request collapsing for reads that must be fresh: callers that arrive while a read is running
//! share the *next* read, never the running one.
//!
//! A webhook is a hint that a session changed, so its re-read from Kustom must start after the
//! delivery arrived: a read already running may have been answered before the change. Deliveries
//! that arrive during a read therefore wait for it to end and then share one read, started by the
//! first of them (the leader of that batch). However many deliveries of one session arrive at once
//! (Kustom's retries, duplicates, several event types in a burst), at most one re-read of that
//! session is running and one batch is waiting, so the object sends Kustom at most two reads per
//! read time instead of one per delivery. Each caller gets the result of a read that started after
//! it arrived: the freshness a read of its own would give.
//!
//! Single-threaded (a Durable Object's event loop): shared state is a `RefCell`, never borrowed
//! across an await. A caller dropped while it leads a read, or after being told to lead one but
//! before starting it (its request went away), passes the lead on, so no waiter is left without a
//! read.

use core::cell::RefCell;
use core::future::Future;
use std::rc::Rc;

use futures_channel::oneshot;

/// What a waiting caller is told when its turn comes.
enum Turn<T> {
    /// The read it waited for ended: its result.
    Done(T),
    /// Start the read yourself and hand its result to these callers, who arrived with you.
    Lead(Vec<Waiter<T>>),
}

/// A waiting caller: its turn is put in `turn`, then it is woken. (A `()` channel and a slot,
/// rather than a channel of `Turn<T>`: the worker already carries the code of the former.)
struct Waiter<T> {
    wake: oneshot::Sender<()>,
    turn: Rc<RefCell<Option<Turn<T>>>>,
}

impl<T> Waiter<T> {
    /// Tells the caller its turn; gives it back when the caller has gone away.
    fn tell(self, turn: Turn<T>) -> Result<(), Turn<T>> {
        if self.wake.is_canceled() {
            return Err(turn);
        }
        *self.turn.borrow_mut() = Some(turn);
        let _woken = self.wake.send(());
        Ok(())
    }
}

struct Queue<T> {
    /// A read is running (its leader holds its batch).
    running: bool,
    /// Callers that arrived while it ran: the next read's batch.
    waiting: Vec<Waiter<T>>,
}

/// Fresh reads shared by the callers that arrive while one is running (see the module docs).
pub struct Coalescer<T> {
    queue: RefCell<Queue<T>>,
}

impl<T> Default for Coalescer<T> {
    fn default() -> Self {
        Self { queue: RefCell::new(Queue { running: false, waiting: Vec::new() }) }
    }
}

impl<T> core::fmt::Debug for Coalescer<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let q = self.queue.borrow();
        f.debug_struct("Coalescer").field("running", &q.running).field("waiting", &q.waiting.len()).finish()
    }
}

impl<T: Clone> Coalescer<T> {
    /// The result of a read that started after this call: `read` itself when no read is running,
    /// otherwise the next read, shared with every caller that arrived during the running one.
    /// `read` is called only when this caller leads a read.
    pub async fn read<F, Fut>(&self, read: F) -> T
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = T>,
    {
        let joined = {
            let mut q = self.queue.borrow_mut();
            if q.running {
                let (wake, woken) = oneshot::channel();
                let turn = Rc::new(RefCell::new(None));
                q.waiting.push(Waiter { wake, turn: turn.clone() });
                Some((woken, turn))
            } else {
                q.running = true;
                None
            }
        };
        let batch = match joined {
            None => Vec::new(),
            Some((woken, turn)) => {
                let waiting = Waiting { coalescer: self, turn };
                let _ = woken.await;
                let told = waiting.turn.borrow_mut().take();
                match told {
                    Some(Turn::Done(value)) => return value,
                    Some(Turn::Lead(batch)) => batch,
                    // Dropped untold (every waiter is either told or handed on): read alone
                    // rather than wait forever, without touching the queue it does not lead.
                    None => return read().await,
                }
            }
        };
        let mut lead = Lead { coalescer: self, batch: Some(batch) };
        let value = read().await;
        lead.finish(&value);
        value
    }

    /// Starts the next read, led by the first caller still waiting, for `batch` (an abandoned
    /// read's callers) and every caller queued since: all of them arrived before that read
    /// starts. With nobody left, no read is running.
    fn pass_lead(&self, mut batch: Vec<Waiter<T>>) {
        batch.append(&mut self.queue.borrow_mut().waiting);
        loop {
            if batch.is_empty() {
                self.queue.borrow_mut().running = false;
                return;
            }
            let next = batch.remove(0);
            match next.tell(Turn::Lead(batch)) {
                // That caller is gone: the rest of its batch comes back.
                Err(Turn::Lead(rest)) => batch = rest,
                _ => return,
            }
        }
    }
}

/// A waiting caller: when dropped after being told to lead but before taking the lead up (its
/// request went away in between), it hands the lead on, so that its batch still gets its read.
struct Waiting<'a, T: Clone> {
    coalescer: &'a Coalescer<T>,
    turn: Rc<RefCell<Option<Turn<T>>>>,
}

impl<T: Clone> Drop for Waiting<'_, T> {
    fn drop(&mut self) {
        let told = self.turn.borrow_mut().take();
        if let Some(Turn::Lead(batch)) = told {
            self.coalescer.pass_lead(batch);
        }
    }
}

/// The running read's leader: tells its batch the result, or passes the lead on when dropped
/// before the read ended.
struct Lead<'a, T: Clone> {
    coalescer: &'a Coalescer<T>,
    batch: Option<Vec<Waiter<T>>>,
}

impl<T: Clone> Lead<'_, T> {
    fn finish(&mut self, value: &T) {
        for waiter in self.batch.take().unwrap_or_default() {
            let _gone = waiter.tell(Turn::Done(value.clone()));
        }
        // Whoever arrived during this read needs a read of its own: the first of them leads it.
        self.coalescer.pass_lead(Vec::new());
    }
}

impl<T: Clone> Drop for Lead<'_, T> {
    fn drop(&mut self) {
        if let Some(batch) = self.batch.take() {
            self.coalescer.pass_lead(batch);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::cell::Cell;
    use core::pin::Pin;
    use core::task::{Context, Poll, Waker};

    type Task<'a> = Pin<Box<dyn Future<Output = u32> + 'a>>;

    /// Reads whose start is recorded and whose end the test decides: each returns the "Kustom
    /// version" current when it started.
    #[derive(Default)]
    struct Kustom {
        version: Cell<u32>,
        started: RefCell<Vec<(u32, oneshot::Sender<()>)>>,
    }

    impl Kustom {
        fn read(self: &Rc<Self>) -> impl Future<Output = u32> {
            let (tx, rx) = oneshot::channel();
            let at_start = self.version.get();
            self.started.borrow_mut().push((at_start, tx));
            async move {
                let _ = rx.await;
                at_start
            }
        }
        fn reads(&self) -> usize {
            self.started.borrow().len()
        }
        /// Ends read number `i` (0-based).
        fn end(&self, i: usize) {
            let (_, tx) = core::mem::replace(&mut self.started.borrow_mut()[i], (0, oneshot::channel().0));
            tx.send(()).unwrap();
        }
    }

    fn poll(task: &mut Task<'_>) -> Poll<u32> {
        task.as_mut().poll(&mut Context::from_waker(Waker::noop()))
    }

    /// Polls every task until none makes progress (a tiny single-threaded executor).
    fn settle(tasks: &mut [(Task<'_>, Option<u32>)]) {
        loop {
            let mut progressed = false;
            for (task, out) in tasks.iter_mut().filter(|(_, o)| o.is_none()) {
                if let Poll::Ready(v) = poll(task) {
                    *out = Some(v);
                    progressed = true;
                }
            }
            if !progressed {
                return;
            }
        }
    }

    fn caller<'a>(c: &'a Coalescer<u32>, k: &Rc<Kustom>) -> (Task<'a>, Option<u32>) {
        let k = k.clone();
        (Box::pin(c.read(move || k.read())), None)
    }

    #[test]
    fn callers_during_a_read_share_the_next_one_and_see_changes_made_before_they_arrived() {
        let c = Coalescer::default();
        let k = Rc::new(Kustom::default());
        let mut tasks = vec![caller(&c, &k)]; // A: leads read 0, which sees version 0
        settle(&mut tasks);
        assert_eq!(k.reads(), 1);
        k.version.set(1); // the change B's delivery reports, made after read 0 started
        tasks.push(caller(&c, &k)); // B
        settle(&mut tasks);
        assert_eq!(k.reads(), 1, "B waits for the running read to end");
        k.end(0);
        settle(&mut tasks);
        assert_eq!(tasks[0].1, Some(0));
        assert_eq!(tasks[1].1, None, "B does not take the read that started before it arrived");
        assert_eq!(k.reads(), 2, "B leads the next read");
        tasks.push(caller(&c, &k)); // C and D arrive during read 1: they share read 2
        tasks.push(caller(&c, &k));
        settle(&mut tasks);
        k.version.set(2);
        k.end(1);
        settle(&mut tasks);
        assert_eq!(tasks[1].1, Some(1));
        assert_eq!(k.reads(), 3);
        k.end(2);
        settle(&mut tasks);
        assert_eq!(tasks[2].1, Some(2));
        assert_eq!(tasks[3].1, Some(2));
        assert_eq!(k.reads(), 3, "four callers, three reads");
        assert!(!c.queue.borrow().running);
        tasks.push(caller(&c, &k)); // idle again: a new caller reads at once
        settle(&mut tasks);
        assert_eq!(k.reads(), 4);
    }

    #[test]
    fn a_leader_that_goes_away_hands_its_read_on() {
        let c = Coalescer::default();
        let k = Rc::new(Kustom::default());
        let mut tasks = vec![caller(&c, &k), caller(&c, &k), caller(&c, &k)]; // A leads; B, C wait
        settle(&mut tasks);
        k.end(0);
        settle(&mut tasks);
        assert_eq!(k.reads(), 2, "B leads read 1 for B and C");
        tasks.push(caller(&c, &k)); // D waits behind read 1
        settle(&mut tasks);
        let (b, _) = tasks.remove(1); // B's request goes away mid-read
        drop(b);
        k.version.set(7);
        settle(&mut tasks);
        assert_eq!(k.reads(), 3, "C leads a new read (read 1 has no one left)");
        k.end(2);
        settle(&mut tasks);
        // D, who arrived before read 2 started, shares it with C.
        assert_eq!(tasks[1].1, Some(7));
        assert_eq!(tasks[2].1, Some(7));
        assert_eq!(k.reads(), 3);
        assert!(!c.queue.borrow().running);
    }

    #[test]
    fn a_waiter_told_to_lead_that_goes_away_before_it_starts_hands_the_lead_on() {
        let c = Coalescer::default();
        let k = Rc::new(Kustom::default());
        let mut tasks = vec![caller(&c, &k), caller(&c, &k), caller(&c, &k)]; // A leads; B, C wait
        settle(&mut tasks);
        k.end(0);
        assert_eq!(poll(&mut tasks[0].0), Poll::Ready(0)); // A ends and tells B to lead B and C
        let (b, _) = tasks.remove(1); // B's request goes away before B runs again
        drop(b);
        drop(tasks.remove(0)); // A is done
        settle(&mut tasks);
        assert_eq!(k.reads(), 2, "C leads the read B was told to start");
        k.end(1);
        settle(&mut tasks);
        assert_eq!(tasks[0].1, Some(0));
        assert!(!c.queue.borrow().running);
        tasks.push(caller(&c, &k)); // and the queue still works
        settle(&mut tasks);
        assert_eq!(k.reads(), 3);
    }

    #[test]
    fn a_waiter_that_goes_away_is_skipped() {
        let c = Coalescer::default();
        let k = Rc::new(Kustom::default());
        let mut tasks = vec![caller(&c, &k), caller(&c, &k), caller(&c, &k)];
        settle(&mut tasks);
        let (b, _) = tasks.remove(1); // B leaves before its turn
        drop(b);
        k.end(0);
        settle(&mut tasks);
        assert_eq!(k.reads(), 2, "C leads the next read in B's place");
        k.end(1);
        settle(&mut tasks);
        assert_eq!(tasks[0].1, Some(0));
        assert_eq!(tasks[1].1, Some(0));
        assert!(!c.queue.borrow().running);
    }
}
