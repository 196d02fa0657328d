//! The command loop every event-sourced aggregate shares: load the
//! aggregate's subject, fold it, decide, append with the expected sequence,
//! and on a conflict start over. Retries are recognised by the message ids
//! stored with the events (`<msg_id_prefix>:<index>`): the decision is re-made on the state before them
//! and only the events not yet stored are appended (each with its own
//! `Nats-Msg-Id`), so a retried command returns the original outcome and
//! stores nothing twice.

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
/// to [`execute`], which recognises the retry.
pub async fn create<S, Ev, E, D>(
    store: &EventStore,
    codec: &Codec<Ev>,
    subject: &str,
    evolve: fn(S, &Ev) -> S,
    cmd: &Command,
    decide: D,
) -> Result<Executed<S>, CommandError<E>>
where
    S: Default + Clone,
    D: Fn(&S) -> Result<Vec<Ev>, E>,
{
    let events = decide(&S::default()).map_err(CommandError::Refused)?;
    if let [only] = events.as_slice() {
        match store
            .append(cmd.event(codec, subject, only, Expected::NoEvents, 0))
            .await
        {
            Ok(a) if !a.duplicate => {
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
    execute(store, codec, subject, evolve, cmd, decide).await
}

/// Runs `decide` against the aggregate at `subject` and appends the result.
pub async fn execute<S, Ev, E, D>(
    store: &EventStore,
    codec: &Codec<Ev>,
    subject: &str,
    evolve: fn(S, &Ev) -> S,
    cmd: &Command,
    decide: D,
) -> Result<Executed<S>, CommandError<E>>
where
    S: Default + Clone,
    D: Fn(&S) -> Result<Vec<Ev>, E>,
{
    for _ in 0..MAX_ATTEMPTS {
        let loaded = store
            .load(subject)
            .await
            .map_err(|e| CommandError::Store(format!("failed to load {subject}: {e}")))?;
        let mut events = Vec::with_capacity(loaded.len());
        for r in &loaded {
            events.push((codec.decode)(r).ok_or(CommandError::Undecodable(r.sequence))?);
        }
        // A retry is recognised by its message ids, which name the caller,
        // the request and (for a request running several commands) the
        // command: a request id reused by someone else, or by another
        // command of the same request, is not mistaken for this one.
        let mine = |r: &RecordedEvent| {
            r.msg_id
                .as_deref()
                .and_then(|m| m.strip_prefix(cmd.msg_id_prefix.as_str()))
                .is_some_and(|rest| rest.starts_with(':'))
        };
        let ours = loaded.iter().position(mine);
        let already = loaded.iter().filter(|r| mine(r)).count();
        let prior = events[..ours.unwrap_or(events.len())]
            .iter()
            .fold(S::default(), evolve);
        let remaining: Vec<Ev> = decide(&prior)
            .map_err(CommandError::Refused)?
            .into_iter()
            .skip(already)
            .collect();
        let mut last = loaded.last().map(|r| r.sequence);
        let mut conflict = false;
        for (i, e) in remaining.iter().enumerate() {
            let expected = last.map_or(Expected::NoEvents, Expected::Sequence);
            match store
                .append(cmd.event(codec, subject, e, expected, already + i))
                .await
            {
                Ok(a) => last = Some(a.sequence),
                Err(AppendError::Conflict { .. }) => {
                    conflict = true;
                    break;
                }
                Err(e) => return Err(CommandError::Store(e.to_string())),
            }
        }
        if conflict {
            continue;
        }
        // A retry whose events were all stored answers as the first call
        // did: with the state right after its own last event, whatever
        // came later.
        if remaining.is_empty()
            && let Some(own) = loaded.iter().rposition(mine)
        {
            return Ok(Executed {
                state: events[..=own].iter().fold(S::default(), evolve),
                last_sequence: loaded[own].sequence,
                appended: 0,
            });
        }
        let state = events
            .iter()
            .chain(remaining.iter())
            .fold(S::default(), evolve);
        return Ok(Executed {
            state,
            last_sequence: last.unwrap_or(0),
            appended: remaining.len(),
        });
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
