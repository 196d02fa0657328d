-- When a reservation was taken: one whose worker never got registered (the
-- process died between reserving and appending) is released after a while.
ALTER TABLE reservations ADD COLUMN IF NOT EXISTS reserved_at TIMESTAMPTZ NOT NULL DEFAULT now();
