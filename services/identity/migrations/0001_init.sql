-- Command-side state the identity service owns beside its event stream.
-- Read models live in their own schema (see src/projection.rs).

-- Per-worker data keys (UU PDP): deleting a row erases that worker's
-- personal data in every event, past and future.
CREATE TABLE IF NOT EXISTS worker_keys (
    worker_id TEXT PRIMARY KEY,
    key BYTEA NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Uniqueness among active workers (kind = nik | bank_account | phone),
-- by keyed fingerprint, reserved before the event is appended.
CREATE TABLE IF NOT EXISTS reservations (
    kind TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    worker_id TEXT NOT NULL,
    PRIMARY KEY (kind, fingerprint)
);
CREATE INDEX IF NOT EXISTS reservations_worker ON reservations (worker_id);

CREATE TABLE IF NOT EXISTS agency_codes (
    code TEXT PRIMARY KEY,
    agency_id TEXT NOT NULL
);

-- Login accounts. Password hashes never enter the event stream.
CREATE TABLE IF NOT EXISTS accounts (
    account_id TEXT PRIMARY KEY,
    login_id TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    roles TEXT[] NOT NULL,
    agency_id TEXT,
    worker_id TEXT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Durable idempotency record: a retry after JetStream's duplicate window
-- still returns the original result.
CREATE TABLE IF NOT EXISTS command_log (
    request_id TEXT PRIMARY KEY,
    command TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    response BYTEA NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS signing_keys (
    key_id TEXT PRIMARY KEY,
    secret BYTEA NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE SEQUENCE IF NOT EXISTS generated_id_seq;
