//! The command loop every event-sourced aggregate shares: load the
//! aggregate's subject, fold it, decide, append with the expected sequence,
//! and on a conflict start over. Retries are recognised by the message ids
//! stored with the events (`<msg_id_prefix>:<index>`): the decision is re-made on the state before them
//! and only the events not yet stored are appended (each with its own
//! `Nats-Msg-Id`), so a retried command returns the original outcome and
//! stores nothing twice.

use std::sync::Arc;

use bytes::Bytes;

use crate::{AppendError, EventStore, Expected, Metadata, NewEvent, RecordedEvent};

/// How a bounded context's event enum travels (function pointers, so a
/// service can describe a type from the proto crate).
pub struct Codec<Ev> {
    pub encode: fn(&Ev) -> Bytes,
    pub decode: fn(&RecordedEvent) -> Option<Ev>,
    /// The variant name for the `Pantau-Event-Type` header.
    pub event_type: fn(&Ev) -> &'static str,
}

/// Who runs a command, under which request id.
#[derive(Debug, Clone)]
pub struct Command {
    pub request_id: String,
    /// The `index`th event's `Nats-Msg-Id` is `<msg_id_prefix>:<index>`.
    pub msg_id_prefix: String,
    pub metadata: Metadata,
}

/// What a command produced: the aggregate's state afterwards and the stream
/// sequence of its last event.
pub struct Executed<S> {
    pub state: S,
    pub last_sequence: u64,
    /// Events this call stored (0 for a retry whose events were all there).
    pub appended: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum CommandError<E> {
    /// The decision refused the command.
    #[error("refused")]
    Refused(E),
    #[error("undecodable event at stream sequence {0}")]
    Undecodable(u64),
    #[error("event store: {0}")]
    Store(String),
    #[error("{0} kept changing concurrently; try again")]
    Contended(String),
}

const MAX_ATTEMPTS: usize = 8;

impl Command {
    fn event<Ev>(
        &self,
        codec: &Codec<Ev>,
        subject: &str,
        e: &Ev,
        expected: Expected,
        index: usize,
    ) -> NewEvent {
        NewEvent {
            subject: subject.to_owned(),
            event_type: (codec.event_type)(e).to_owned(),
            schema_version: 1,
            payload: (codec.encode)(e),
            expected,
            msg_id: Some(format!("{}:{index}", self.msg_id_prefix)),
            metadata: self.metadata.clone(),
        }
    }
}

/// Creates an aggregate: decides on the empty state and appends with "no
/// events yet" straight away, skipping the load a fresh id does not need.
/// When the subject already has events (a retry, or a clash) it falls back
/// to [`execute`], which recognises the retry. With a `cache` (a subject
/// that is often new and sometimes busy, like a worker's day), remembered
/// subjects go straight to [`execute`].
pub async fn create<S, Ev, E, D>(
    store: &EventStore,
    codec: &Codec<Ev>,
    cache: Option<&Cache<Ev>>,
    subject: &str,
    evolve: fn(S, &Ev) -> S,
    cmd: &Command,
    decide: D,
) -> Result<Executed<S>, CommandError<E>>
where
    S: Default + Clone,
    Ev: Clone,
    D: Fn(&S) -> Result<Vec<Ev>, E>,
{
    let _turn = turn(cache, subject).await;
    let remembered = cache.is_some_and(|c| c.get(subject).is_some());
    if !remembered {
        let events = decide(&S::default()).map_err(CommandError::Refused)?;
        if let [only] = events.as_slice() {
            let event = cmd.event(codec, subject, only, Expected::NoEvents, 0);
            let msg_id = event.msg_id.clone();
            match store.append(event).await {
                Ok(a) if !a.duplicate => {
                    if let Some(c) = cache {
                        c.put(
                            subject,
                            vec![Known {
                                sequence: a.sequence,
                                msg_id,
                                event: only.clone(),
                            }],
                        );
                    }
                    return Ok(Executed {
                        state: evolve(S::default(), only),
                        last_sequence: a.sequence,
                        appended: 1,
                    });
                }
                Ok(_) | Err(AppendError::Conflict { .. }) => {}
                Err(e) => return Err(CommandError::Store(e.to_string())),
            }
        }
    }
    run(store, codec, cache, subject, evolve, cmd, decide).await
}

/// Runs `decide` against the aggregate at `subject` and appends the result.
///
/// With a `cache`, it starts from what the cache remembers of the subject
/// instead of loading it: a busy aggregate costs no stream reads while this
/// replica is the only one changing it, and this replica's commands on the
/// subject take turns. A stale memory is caught by the expected sequence;
/// only the events after it are then read.
pub async fn execute<S, Ev, E, D>(
    store: &EventStore,
    codec: &Codec<Ev>,
    cache: Option<&Cache<Ev>>,
    subject: &str,
    evolve: fn(S, &Ev) -> S,
    cmd: &Command,
    decide: D,
) -> Result<Executed<S>, CommandError<E>>
where
    S: Default + Clone,
    Ev: Clone,
    D: Fn(&S) -> Result<Vec<Ev>, E>,
{
    let _turn = turn(cache, subject).await;
    run(store, codec, cache, subject, evolve, cmd, decide).await
}

/// This replica's turn on `subject`, when it keeps a cache.
async fn turn<'a, Ev: Clone>(
    cache: Option<&'a Cache<Ev>>,
    subject: &'a str,
) -> Option<Turn<'a, Ev>> {
    match cache {
        Some(c) => Some(c.turn(subject).await),
        None => None,
    }
}

/// An event of an aggregate as the command loop knows it.
#[derive(Debug, Clone)]
pub struct Known<Ev> {
    pub sequence: u64,
    /// Which command stored it (`<msg_id_prefix>:<index>`).
    pub msg_id: Option<String>,
    pub event: Ev,
}

/// The events of recently changed aggregates, per replica. Bounded: when
/// full it starts over (aggregates are re-read on their next command).
pub struct Cache<Ev> {
    subjects: std::sync::Mutex<std::collections::HashMap<String, Vec<Known<Ev>>>>,
    capacity: usize,
    /// One command at a time per subject on this replica: two commands
    /// racing on the same aggregate would both expect the same sequence,
    /// and the loser's refused append would cost a round trip (and, in a
    /// group commit, a refused batch).
    turns: std::sync::Mutex<std::collections::HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// A command's turn on a subject; the next waiting command goes when it
/// is dropped.
struct Turn<'a, Ev> {
    cache: &'a Cache<Ev>,
    subject: &'a str,
    held: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl<Ev> Drop for Turn<'_, Ev> {
    fn drop(&mut self) {
        self.held.take();
        if let Ok(mut turns) = self.cache.turns.lock()
            && turns
                .get(self.subject)
                .is_some_and(|t| Arc::strong_count(t) == 1)
        {
            // Nobody is waiting: forget the subject's lock.
            turns.remove(self.subject);
        }
    }
}

impl<Ev: Clone> Cache<Ev> {
    pub fn new(capacity: usize) -> Self {
        Self {
            subjects: std::sync::Mutex::new(std::collections::HashMap::new()),
            capacity: capacity.max(1),
            turns: std::sync::Mutex::new(std::collections::HashMap::new()),
        }
    }

    /// Waits for this replica's other commands on `subject` to finish.
    async fn turn<'a>(&'a self, subject: &'a str) -> Turn<'a, Ev> {
        let lock = self
            .turns
            .lock()
            .map(|mut t| t.entry(subject.to_owned()).or_default().clone())
            .ok();
        // A poisoned map only loses the serialisation, never a command:
        // the expected sequence still guards the aggregate.
        let held = match lock {
            Some(lock) => Some(lock.lock_owned().await),
            None => None,
        };
        Turn {
            cache: self,
            subject,
            held,
        }
    }

    fn get(&self, subject: &str) -> Option<Vec<Known<Ev>>> {
        self.subjects.lock().ok()?.get(subject).cloned()
    }

    fn put(&self, subject: &str, events: Vec<Known<Ev>>) {
        if let Ok(mut m) = self.subjects.lock() {
            if m.len() >= self.capacity && !m.contains_key(subject) {
                m.clear();
            }
            m.insert(subject.to_owned(), events);
        }
    }

    fn forget(&self, subject: &str) {
        if let Ok(mut m) = self.subjects.lock() {
            m.remove(subject);
        }
    }
}

/// The command loop; with a cache, the caller holds the subject's turn.
async fn run<S, Ev, E, D>(
    store: &EventStore,
    codec: &Codec<Ev>,
    cache: Option<&Cache<Ev>>,
    subject: &str,
    evolve: fn(S, &Ev) -> S,
    cmd: &Command,
    decide: D,
) -> Result<Executed<S>, CommandError<E>>
where
    S: Default + Clone,
    Ev: Clone,
    D: Fn(&S) -> Result<Vec<Ev>, E>,
{
    let remembered = cache.and_then(|c| c.get(subject));
    // Without a memory of the subject, read it before deciding.
    let mut read = remembered.is_none();
    let mut known = remembered.unwrap_or_default();
    // A retry is recognised by its message ids, which name the caller,
    // the request and (for a request running several commands) the
    // command: a request id reused by someone else, or by another
    // command of the same request, is not mistaken for this one.
    let mine = |k: &Known<Ev>| {
        k.msg_id
            .as_deref()
            .and_then(|m| m.strip_prefix(cmd.msg_id_prefix.as_str()))
            .is_some_and(|rest| rest.starts_with(':'))
    };
    for _ in 0..MAX_ATTEMPTS {
        let up_to_date = read;
        if read {
            let after = known.last().map_or(0, |k| k.sequence);
            let loaded = store
                .load_after(subject, after)
                .await
                .map_err(|e| CommandError::Store(format!("failed to load {subject}: {e}")))?;
            for r in &loaded {
                known.push(Known {
                    sequence: r.sequence,
                    msg_id: r.msg_id.clone(),
                    event: (codec.decode)(r).ok_or(CommandError::Undecodable(r.sequence))?,
                });
            }
        }
        read = true;
        let ours = known.iter().position(mine);
        let already = known.iter().filter(|k| mine(k)).count();
        let prior = known[..ours.unwrap_or(known.len())]
            .iter()
            .fold(S::default(), |s, k| evolve(s, &k.event));
        let remaining: Vec<Ev> = match decide(&prior) {
            Ok(events) => events.into_iter().skip(already).collect(),
            // A refusal may come from a stale memory: refuse only what the
            // stream as it is now refuses.
            Err(_) if !up_to_date => continue,
            Err(e) => return Err(CommandError::Refused(e)),
        };
        let mut last = known.last().map(|k| k.sequence);
        let (mut conflict, mut trusted) = (false, true);
        let mut stored = Vec::with_capacity(remaining.len());
        for (i, e) in remaining.iter().enumerate() {
            let expected = last.map_or(Expected::NoEvents, Expected::Sequence);
            let event = cmd.event(codec, subject, e, expected, already + i);
            let msg_id = event.msg_id.clone();
            match store.append(event).await {
                Ok(a) => {
                    last = Some(a.sequence);
                    // A duplicate was stored earlier, maybe before events
                    // this replica has not seen: do not remember blindly.
                    trusted &= !a.duplicate;
                    stored.push(Known {
                        sequence: a.sequence,
                        msg_id,
                        event: e.clone(),
                    });
                }
                Err(AppendError::Conflict { .. }) => {
                    conflict = true;
                    break;
                }
                Err(e) => {
                    if let Some(c) = cache {
                        c.forget(subject);
                    }
                    return Err(CommandError::Store(e.to_string()));
                }
            }
        }
        if conflict {
            // What was stored before the conflict is read back with the rest.
            continue;
        }
        // A retry whose events were all stored answers as the first call
        // did: with the state right after its own last event, whatever
        // came later.
        if remaining.is_empty()
            && let Some(own) = known.iter().rposition(mine)
        {
            let state = known[..=own]
                .iter()
                .fold(S::default(), |s, k| evolve(s, &k.event));
            let last_sequence = known[own].sequence;
            if let Some(c) = cache {
                c.put(subject, known);
            }
            return Ok(Executed {
                state,
                last_sequence,
                appended: 0,
            });
        }
        let appended = stored.len();
        known.extend(stored);
        let state = known.iter().fold(S::default(), |s, k| evolve(s, &k.event));
        if let Some(c) = cache {
            if trusted {
                c.put(subject, known);
            } else {
                c.forget(subject);
            }
        }
        return Ok(Executed {
            state,
            last_sequence: last.unwrap_or(0),
            appended,
        });
    }
    if let Some(c) = cache {
        c.forget(subject);
    }
    Err(CommandError::Contended(subject.to_owned()))
}

/// Loads and folds an aggregate without changing it (never `Refused`; the
/// error type fits the caller's commands).
pub async fn load<S: Default, Ev, E>(
    store: &EventStore,
    codec: &Codec<Ev>,
    subject: &str,
    evolve: fn(S, &Ev) -> S,
) -> Result<S, CommandError<E>> {
    let loaded = store
        .load(subject)
        .await
        .map_err(|e| CommandError::Store(format!("failed to load {subject}: {e}")))?;
    let mut state = S::default();
    for r in &loaded {
        state = evolve(
            state,
            &(codec.decode)(r).ok_or(CommandError::Undecodable(r.sequence))?,
        );
    }
    Ok(state)
}

impl<E: Into<pantau_platform::ServiceError>> From<CommandError<E>>
    for pantau_platform::ServiceError
{
    fn from(e: CommandError<E>) -> Self {
        use pantau_platform::ServiceError;
        match e {
            CommandError::Refused(e) => e.into(),
            CommandError::Undecodable(seq) => {
                ServiceError::Internal(format!("undecodable event at {seq}"))
            }
            CommandError::Store(m) => ServiceError::Unavailable(m),
            CommandError::Contended(subject) => {
                ServiceError::Aborted(format!("{subject} kept changing concurrently; try again"))
            }
        }
    }
}
