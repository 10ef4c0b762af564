package outcomes

import (
	"sort"
	"strings"
)

// Reason codes. An outcome event's reason is one of these, so a receiver
// can switch on it; whatever free text explains it (a provider's error
// message, a receipt's error code, the provider an ambiguous attempt went
// to) travels apart, in detail. docs/events/README.md lists them with
// their meaning (reasons_test.go checks that it does, and that every
// reason the code sets is listed).
//
// Where a reason is set (worker/judge.go, worker/compose.go,
// worker/settle.go, the begin script's frequency cap in
// internal/store/smsrecords.go, the delivery wait in
// internal/store/outcomes.go) it is stored as "<code>" or
// "<code>: <detail>"; SplitReason takes it apart.
var reasonCodes = map[string]string{
	// suppressed
	"opted_out":     "the phone opted out of the application or of the sender (STOP)",
	"no_consent":    "a marketing SMS to a device whose consent tag is not true",
	"missing_tag":   "the text uses a device tag the device does not have",
	"frequency_cap": "the phone reached the application's marketing frequency cap",
	"guard_country": "the destination country is not allowed for the application",
	"guard_range":   "the number is in a blocked or premium range",
	"guard_pumping": "traffic-pumping protection refused the number",
	// expired
	"expired_validity":  "the validity ended before a provider took the SMS",
	"quiet_hours":       "the validity ends inside the recipient's quiet hours",
	"ambiguous_attempt": "the validity ended waiting to learn whether an ambiguous attempt was delivered; detail names the provider",
	// failed
	"provider_rejected": "a provider refused the SMS for good; detail is its error",
	"provider_failed":   "every attempt failed (transient errors until attempts or validity ran out); detail is the last error",
	"too_long":          "the text needs more segments than the application allows",
	"render_failed":     "the template could not be rendered; detail says why",
	"encode_failed":     "the text could not be encoded for SMS; detail says why",
	// undelivered
	"operator_undelivered": "the operator's receipt says undelivered; detail is the receipt's error code",
	// unknown
	"not_delivered_within_wait": "no receipt came within the delivery wait",
	// any status, for records written before reasons were codes
	"unclassified": "a reason stored before reason codes existed; detail is its text",
}

// QuotaReasonPrefix names a family of codes: quota_<name>, an
// application's quota <name> was used up (the worker's ReasonQuotaPrefix).
const QuotaReasonPrefix = "quota_"

// ReasonCodes returns every reason code, sorted; quota_<name> stands for
// the quota family.
func ReasonCodes() []string {
	out := make([]string, 0, len(reasonCodes)+1)
	for c := range reasonCodes {
		out = append(out, c)
	}
	out = append(out, QuotaReasonPrefix+"<name>")
	sort.Strings(out)
	return out
}

// IsReasonCode reports whether code is a listed reason code.
func IsReasonCode(code string) bool {
	if _, ok := reasonCodes[code]; ok {
		return true
	}
	name, ok := strings.CutPrefix(code, QuotaReasonPrefix)
	return ok && name != "" && !strings.ContainsAny(name, " :")
}

// SplitReason takes a stored reason ("<code>" or "<code>: <detail>")
// apart. A stored reason that does not start with a listed code (a record
// written before codes existed) is "unclassified" with the whole text as
// detail, so an event's reason is always a listed code.
func SplitReason(stored string) (code, detail string) {
	if stored == "" {
		return "", ""
	}
	code, detail, _ = strings.Cut(stored, ": ")
	if IsReasonCode(code) {
		return code, detail
	}
	return "unclassified", stored
}
