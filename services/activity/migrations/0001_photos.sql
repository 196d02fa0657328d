-- Command-side state the activity service owns beside its event stream;
-- the read model lives in its own schema (see src/readmodel.rs) and is
-- rebuilt from the stream, which photos are not on.

-- Evidence photos, content-addressed (see the pantau-photos crate): a
-- report's photo evidence names one by its SHA-256.
CREATE TABLE IF NOT EXISTS photos (
    sha256       text PRIMARY KEY,
    content_type text NOT NULL,
    bytes        bytea NOT NULL,
    size         int NOT NULL,
    stored_by    text NOT NULL,
    stored_at    timestamptz NOT NULL DEFAULT now()
);
