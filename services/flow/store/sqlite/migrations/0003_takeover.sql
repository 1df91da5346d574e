-- Takeovers are visible to the new holder: a lease remembers the owner it
-- was last taken from (AcquireLease's Lease.TakenFrom), and a timer counts
-- its claims (Timer.Claims), so a replica that takes over work a dead one
-- may have half done can check what already reached the customer.
ALTER TABLE leases ADD COLUMN taken_from TEXT NOT NULL DEFAULT '';
ALTER TABLE timers ADD COLUMN claims INTEGER NOT NULL DEFAULT 0;

-- Heartbeats renew and shutdowns end all leases and claims of one owner.
CREATE INDEX leases_owner ON leases (owner);
CREATE INDEX timers_claim_owner ON timers (claim_owner) WHERE claim_owner <> '';
