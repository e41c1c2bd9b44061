-- The customs officer: a role of its own for the office's customs steps (the declaration queue,
-- risk, release with seals, arrival, closing, permits), apart from the control center's operator.
ALTER TABLE users DROP CONSTRAINT users_role_check;
ALTER TABLE users ADD CONSTRAINT users_role_check
    CHECK (role IN ('operator', 'officer', 'mobile_group', 'auditor', 'declarant', 'admin'));

-- The declaration queue: pages by submission time, per status or across all.
CREATE INDEX declarations_queue ON declarations (status, submitted_at, id);
CREATE INDEX declarations_submitted ON declarations (submitted_at, id);
