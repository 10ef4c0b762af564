// Package guard holds the spend and fraud guards of each application
// (issue 18): allowed destination countries and denied number ranges,
// allowed senders with a default, an intake rate limit shared by every
// intake pod, and OTP pumping protection (per phone per hour, per number
// prefix per minute, hot prefixes counted as anomalies).
//
// The rules are the configuration's (config.Guards, fleet-wide and per
// application) with the operator's overrides on top, set through the
// operator API and kept in the traffic control state (field "g:{app}"),
// so they are audited and applied by every pod within a poll (Live).
// Intake refuses what it can see (intake/guards.go); the worker suppresses
// what only the send time knows (worker/guards.go).
//
// Keys (every one carries the application's code as its hash tag, so the
// scripts' keys share one Redis Cluster slot; internal/store/keys.go):
//
//	sf:gp:{app}:{phone}          zset  OTP SMS ids sent to a phone, scored by unix ms; trimmed to the hour, PEXPIRE 1 h
//	sf:gx:{app}:{prefix}         zset  OTP SMS ids sent to a number prefix, scored by unix ms; trimmed to the minute, PEXPIRE 1 min
//	sf:gm:{app}:{prefix}:{min}   string OTP sent to a prefix in one minute (unix minute), for anomalies; TTL AnomalyMinutes+2 min
//	sf:gr:{t,a,m}:{app}          intake token bucket (ratelimit.Limiter, prefix sf:gr:); expire when idle
//	sf:gr:u:{app}:{second}       the limiter's usage buckets; TTL 2 min
package guard

import "fmt"

// Rules, as metric labels (smsfleet_guard_refusals_total{rule}).
const (
	RuleCountry    = "country"
	RuleRange      = "range"
	RuleSender     = "sender"
	RuleRate       = "rate"
	RuleOTPPhone   = "otp_phone"
	RuleOTPPrefix  = "otp_prefix"
	fieldCountries = "guards.countries"
	fieldRanges    = "guards.denied_ranges"
	fieldSenders   = "guards.senders"
)

// Suppression reasons of SMS a guard stops at send time.
const (
	ReasonCountry = "guard_country"
	ReasonRange   = "guard_range"
	ReasonPumping = "guard_pumping"
)

// Refusal is a guard's no: the rule (a metric label) and a message that
// names the rule's setting.
type Refusal struct {
	Rule string
	Msg  string
}

func (r *Refusal) Error() string { return r.Msg }

// Reason is the suppression reason of an SMS this refusal stops.
func (r *Refusal) Reason() string {
	switch r.Rule {
	case RuleCountry:
		return ReasonCountry
	case RuleRange:
		return ReasonRange
	}
	return ReasonPumping
}

func refuse(rule, format string, a ...any) *Refusal {
	return &Refusal{Rule: rule, Msg: fmt.Sprintf(format, a...)}
}
