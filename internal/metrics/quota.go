package metrics

// Quota metrics (internal/quota). Labels are bounded: the quota's name
// (six of them) and the stage that refused (intake or send).
var (
	QuotaWarnings = counterVec("smsfleet_quota_warnings_total", "Quota warning thresholds crossed (one per application, quota and period).", "quota")
	QuotaRefused  = counterVec("smsfleet_quota_refused_total", "SMS refused by a quota: at intake (the request, counted per SMS) or at send time (suppressed).", "quota", "stage")
)
