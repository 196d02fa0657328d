-- Worker portraits, content-addressed (see the pantau-photos crate): a
-- worker's photo_ref names one by its SHA-256. Not on the event stream, so
-- here beside it, not in the read model.
CREATE TABLE IF NOT EXISTS photos (
    sha256       text PRIMARY KEY,
    content_type text NOT NULL,
    bytes        bytea NOT NULL,
    size         int NOT NULL,
    stored_by    text NOT NULL,
    stored_at    timestamptz NOT NULL DEFAULT now()
);
