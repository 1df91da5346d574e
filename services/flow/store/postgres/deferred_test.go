package postgres

import (
	"testing"
	"time"

	"github.com/convoflow/convoflow/internal/pgtest"
	"github.com/convoflow/convoflow/services/flow/store"
)

// TestSettleLeaseLaterLooksAfterCommit checks the look that rides after
// the COMMIT of a SettleLeaseLater that released the lease: it finds an
// event that another transaction recorded while the lease was still held
// (it found the lease taken and left the event to its holder), which the
// settling statement's snapshot could not see; and it finds nothing when
// there is nothing.
func TestSettleLeaseLaterLooksAfterCommit(t *testing.T) {
	t.Parallel()
	const ttl = 30 * time.Second
	// Its own application_name, to find its own waiting backend among
	// those of the tests sharing the database.
	s := openTest(t, withParam(t, pgtest.NewSchema(t), "application_name", "settle_look"), Options{})
	ctx := t.Context()
	if _, err := s.CreateFlow(ctx, store.Flow{SID: flowSID, FriendlyName: "f", Status: store.FlowStatusPublished, CreateTime: t0}); err != nil {
		t.Fatal(err)
	}
	const conv = "CH00000000000000000000000000000001"
	name := "conversation:" + conv
	settle := func() store.LeaseSettlement {
		t.Helper()
		var settled store.LeaseSettlement
		if err := s.InTx(ctx, func(tx store.Tx) error {
			return tx.SettleLeaseLater(ctx, name, "a", conv, t0, ttl, &settled)
		}); err != nil {
			t.Error(err)
		}
		return settled
	}

	if _, err := s.AcquireLease(ctx, name, "a", t0, ttl); err != nil {
		t.Fatal(err)
	}
	diff := func(what string, want, got store.LeaseSettlement) {
		t.Helper()
		if got != want {
			t.Errorf("%s: %+v, want %+v", what, got, want)
		}
	}
	diff("settled with no event", store.LeaseSettlement{Released: true}, settle())

	if _, err := s.AcquireLease(ctx, name, "a", t0, ttl); err != nil {
		t.Fatal(err)
	}
	// b records an event and tries the lease, which locks its row until b
	// commits; a's settling then waits for b, with a snapshot taken
	// before b's event committed.
	locked, release := make(chan struct{}), make(chan struct{})
	recorded := make(chan error, 1)
	go func() {
		recorded <- s.InTx(ctx, func(tx store.Tx) error {
			if _, _, err := tx.RecordEvent(ctx, store.Event{ConversationSID: conv, FlowSID: flowSID, MessageSID: "IM1", ReceiveTime: t0}); err != nil {
				return err
			}
			var l store.Lease
			if err := tx.AcquireLeaseLater(ctx, name, "b", t0, ttl, &l); err != nil {
				return err
			}
			// Send the lease statement now, so that its lock is held.
			if _, err := tx.GetFlow(ctx, flowSID); err != nil {
				return err
			}
			close(locked)
			<-release
			return nil
		})
	}()
	<-locked
	settled := make(chan store.LeaseSettlement, 1)
	go func() { settled <- settle() }()
	for deadline := time.Now().Add(10 * time.Second); ; {
		var waiting int
		if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
			WHERE application_name = 'settle_look' AND wait_event_type = 'Lock'`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the settling transaction never waited for the lease row")
		}
		time.Sleep(10 * time.Millisecond)
	}
	close(release)
	if err := <-recorded; err != nil {
		t.Fatal(err)
	}
	diff("settled while b recorded an event", store.LeaseSettlement{Released: true, PendingAfter: true}, <-settled)
}
