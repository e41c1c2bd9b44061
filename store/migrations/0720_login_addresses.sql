-- Login throttling per (user name, client address): the pair index serves the back-off look-up,
-- and the addresses a user has logged in from are remembered, so failures by others from the
-- same address (an office behind one NAT) never hold that user back.
CREATE INDEX login_failures_user_ip ON login_failures (username, ip, at);

CREATE TABLE login_addresses (
    username    text NOT NULL,
    ip          text NOT NULL,
    last_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (username, ip)
);
CREATE INDEX login_addresses_last ON login_addresses (last_at);
