package metrics

// SMS counters. smsfleet_sms_total{status} counted `sent` (the worker)
// and the final outcomes (the relay) under one name, so sum() over it
// counted every delivered SMS twice. It is replaced by two counters with
// one meaning each:
//
//   - smsfleet_sms_sent_total: SMS a provider accepted (throughput);
//   - smsfleet_sms_outcomes_total{outcome}: SMS reaching a final outcome
//     (delivered, undelivered, unknown, failed, expired, suppressed,
//     canceled: whatever the outcome relay publishes), so
//     sum(rate(...)) is SMS finished per second and
//     delivered / sum is the delivery rate.
//
// smsfleet_sms_total stays, deprecated, for one release, with the same
// values as before, so dashboards and alerts built on it keep working
// while they move to the new names; the chart's alerts already use them.
var (
	// SMSSent counts SMS a provider accepted, by lane, provider, operator.
	SMSSent = counterVec("smsfleet_sms_sent_total", "SMS accepted by a provider, by lane, provider and operator.",
		"lane", "provider", "operator")
	// SMSOutcomes counts SMS reaching a final outcome.
	SMSOutcomes = counterVec("smsfleet_sms_outcomes_total",
		"SMS reaching a final outcome (delivered, undelivered, unknown, failed, expired, suppressed, canceled), by outcome, lane, provider and operator.",
		"outcome", "lane", "provider", "operator")

	// SMS is smsfleet_sms_total, deprecated: it mixes `sent` with the
	// outcomes. Use SMSSent and SMSOutcomes; count through CountSent and
	// CountOutcome, which keep it up to date until it is removed.
	SMS = counterVec("smsfleet_sms_total", "DEPRECATED (removed in the next release): use smsfleet_sms_sent_total and smsfleet_sms_outcomes_total. SMS reaching each status (sent and every outcome), by lane, provider and operator.",
		"status", "lane", "provider", "operator")
)

// CountSent counts one SMS a provider accepted.
func CountSent(lane, provider, operator string) {
	SMSSent.WithLabelValues(lane, provider, operator).Inc()
	SMS.WithLabelValues("sent", lane, provider, operator).Inc()
}

// CountOutcome counts one SMS reaching its final outcome.
func CountOutcome(outcome, lane, provider, operator string) {
	SMSOutcomes.WithLabelValues(outcome, lane, provider, operator).Inc()
	SMS.WithLabelValues(outcome, lane, provider, operator).Inc()
}
