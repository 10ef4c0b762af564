package metrics

import "github.com/prometheus/client_golang/prometheus"

// Authentication failures (issue 13, item 10): a wrong token or monitor
// password used to leave no trace. Labels are bounded: surface is "api"
// (the Pushwoosh and native intake) or "monitor" (the Asynq monitor and its
// metrics); reason is one of the authguard reasons.
var (
	// AuthFailures counts refused authentications, by surface and reason:
	// missing (no credentials), unknown (a token no application has),
	// wrong_app (another application's token), too_weak (a device token
	// where the server token is needed), wrong_password (the monitor).
	AuthFailures = counterVec("smsfleet_auth_failures_total",
		"Refused authentications, by surface (api, monitor) and reason (missing, unknown, wrong_app, too_weak, wrong_password).",
		"surface", "reason")
	// AuthThrottled counts requests answered 429 because their source had
	// spent its failure budget (SMSFLEET_AUTH_FAILURES per
	// SMSFLEET_AUTH_FAILURE_WINDOW).
	AuthThrottled = counterVec("smsfleet_auth_throttled_total",
		"Requests refused with 429 because their source address failed authentication too often, by surface.",
		"surface")
)

// AuthCollectors are the authentication metrics, for a registry other than
// Registry (the monitor role serves its own).
func AuthCollectors() []prometheus.Collector {
	return []prometheus.Collector{AuthFailures, AuthThrottled}
}
