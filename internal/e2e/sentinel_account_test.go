package e2e_test

import (
	"context"
	"testing"
	"time"

	"github.com/smsfleet/smsfleet/internal/e2e/harness"
	"github.com/smsfleet/smsfleet/internal/simulator"
	"github.com/smsfleet/smsfleet/internal/sms"
	"github.com/smsfleet/smsfleet/internal/store"
)

// The failover test's accounting: what became of every accepted SMS, at
// the provider and in the store.

// failoverAccount is what became of the accepted SMS.
type failoverAccount struct {
	// once: at the provider, under the SMS's id, and sent.
	once int
	// lost: never at the provider; stuck: at the provider but not sent in
	// the store (or not there at all) when the wait ended.
	lost, stuck int
	// duplicates: accepted phones the provider got more than one SMS id for.
	duplicates int
}

// account waits (at most two minutes) until every accepted SMS is at the
// provider and sent, then counts.
func account(ctx context.Context, t *testing.T, st *store.Store, sim *simulator.Simulator, accepted []acceptedSMS) failoverAccount {
	t.Helper()
	ids := make([]string, len(accepted))
	for i, a := range accepted {
		id, err := st.SMSIDOf(ctx, a.code, a.phone)
		if err != nil {
			t.Fatalf("SMS id of %s: %v", a.code, err)
		}
		ids[i] = id
	}
	var acct failoverAccount
	harness.Poll(2*time.Minute, 200*time.Millisecond, func() bool {
		acct = count(ctx, st, sim, accepted, ids)
		return acct.once == len(accepted)
	})
	if acct.once != len(accepted) {
		logNotSent(ctx, t, st, ids)
	}
	return acct
}

// count compares the provider's SMS and the store with the accepted ones.
func count(ctx context.Context, st *store.Store, sim *simulator.Simulator, accepted []acceptedSMS, ids []string) failoverAccount {
	atProvider := map[string]int{}
	idsByPhone := map[string]map[string]bool{}
	for _, m := range sim.Messages("", sim.Count()) {
		atProvider[m.ID]++
		if idsByPhone[m.To] == nil {
			idsByPhone[m.To] = map[string]bool{}
		}
		idsByPhone[m.To][m.ID] = true
	}
	recs, err := st.GetSMSBatch(ctx, ids)
	var acct failoverAccount
	for i, a := range accepted {
		switch {
		case atProvider[ids[i]] == 0:
			acct.lost++
		case err != nil || recs[i].Status != sms.Sent:
			acct.stuck++
		default:
			acct.once++
		}
		if len(idsByPhone[a.phone]) > 1 {
			acct.duplicates++
		}
	}
	return acct
}

// logNotSent logs the first few accepted SMS that are not sent, with their
// attempts, for the one who reads a failure.
func logNotSent(ctx context.Context, t *testing.T, st *store.Store, ids []string) {
	recs, err := st.GetSMSBatch(ctx, ids)
	if err != nil {
		t.Logf("reading the SMS not sent: %v", err)
		return
	}
	logged := 0
	for i, r := range recs {
		if r.Status != sms.Sent && logged < 5 {
			t.Logf("not sent: %s status %q, %d attempts, history %+v", ids[i], r.Status, r.Attempts, r.History)
			logged++
		}
	}
}
