package metrics

// Guards (issue 18, internal/guard). Labels are bounded: rule is one of
// the guard rules (country, range, sender, rate, otp_phone, otp_prefix),
// application one of the configured applications, prefix_country the ISO
// code of a hot prefix's country.
var (
	// GuardRefusals counts SMS and requests a guard refused at intake or
	// suppressed at send time, by rule.
	GuardRefusals = counterVec("smsfleet_guard_refusals_total",
		"Requests refused at intake and SMS suppressed at send time by a guard, by rule (country, range, sender, rate, otp_phone, otp_prefix).",
		"rule")
	// GuardAnomalies counts number prefixes that turned suddenly hot with
	// OTP (a minute's count over the anomaly factor times their recent
	// average and over the floor): once per prefix and minute.
	GuardAnomalies = counterVec("smsfleet_guard_anomalies_total",
		"Number prefixes suddenly hot with OTP (possible SMS pumping), by application and the prefix's country.",
		"application", "prefix_country")
)
