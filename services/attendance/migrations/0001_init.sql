-- Secrets this service generates for itself on first start: the Ed25519 key
-- that signs printed QR codes and the master secret rotating codes derive
-- from. They never leave this database (only the public key is published).
CREATE TABLE IF NOT EXISTS secrets (
    name       text PRIMARY KEY,
    value      bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
