package intake

// send_rate is Pushwoosh's per-message throttling: "Throttling. Valid
// values are from 100 to 1000 pushes/second" (createMessage,
// docs.pushwoosh.com/docs/createmessage). For an SMS it is SMS per second
// for that message, enforced fleet-wide by the workers
// (ratelimit.MessageRates) on top of the operator limits: an SMS goes when
// both have room, so a message never goes faster than its send_rate nor
// any operator faster than its limit.

// The send_rate range Pushwoosh documents.
const (
	minSendRate = 100
	maxSendRate = 1000
)

// checkSendRate reads send_rate (absent: 0, no limit of the message's own).
func checkSendRate(v *int, field string) (int, error) {
	if v == nil {
		return 0, nil
	}
	if *v < minSendRate || *v > maxSendRate {
		return 0, argError(field+".send_rate", "must be from %d to %d SMS per second, got %d", minSendRate, maxSendRate, *v)
	}
	return *v, nil
}
