package metrics

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestSentAndOutcomesApart: an SMS sent then delivered counts once in
// smsfleet_sms_sent_total and once in smsfleet_sms_outcomes_total, so
// summing the outcomes counts it once; the deprecated smsfleet_sms_total
// keeps its old values (both) for the release it stays.
func TestSentAndOutcomesApart(t *testing.T) {
	lane, prov, op := "otp", "test-sms-apart", "DE:T-Mobile"
	for _, c := range []struct {
		name     string
		count    func()
		sent     float64
		outcomes float64
		old      float64
	}{
		{"sent", func() { CountSent(lane, prov, op) }, 1, 0, 1},
		{"delivered", func() { CountOutcome("delivered", lane, prov, op) }, 1, 1, 2},
		{"failed elsewhere", func() { CountOutcome("failed", lane, prov, op) }, 1, 2, 3},
	} {
		c.count()
		sent := testutil.ToFloat64(SMSSent.WithLabelValues(lane, prov, op))
		outcomes := testutil.ToFloat64(SMSOutcomes.WithLabelValues("delivered", lane, prov, op)) +
			testutil.ToFloat64(SMSOutcomes.WithLabelValues("failed", lane, prov, op))
		old := testutil.ToFloat64(SMS.WithLabelValues("sent", lane, prov, op)) +
			testutil.ToFloat64(SMS.WithLabelValues("delivered", lane, prov, op)) +
			testutil.ToFloat64(SMS.WithLabelValues("failed", lane, prov, op))
		if sent != c.sent || outcomes != c.outcomes || old != c.old {
			t.Errorf("after %s: sent %v outcomes %v deprecated %v, want %v %v %v", c.name, sent, outcomes, old, c.sent, c.outcomes, c.old)
		}
	}
}
