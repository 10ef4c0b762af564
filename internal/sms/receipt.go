package sms

import "time"

// Receipt is a provider's delivery report for one SMS, normalised. It is
// the one type a receipt has from the provider's webhook (or SMPP
// connection) through Kafka (the record on smsfleet.receipts is its JSON:
// {"provider","ref","status","error_code","at"}) to the delivery state.
type Receipt struct {
	Provider string `json:"provider"`
	// Ref is the provider's message reference, as the send's result named it.
	Ref string `json:"ref"`
	// Status is Delivered or Undelivered for a final receipt. An
	// intermediate report ("accepted", "enroute", "queued", "sent") keeps
	// the provider's own word, lower-cased: the record on Kafka then says
	// what the provider said, as it always has, and Final tells it apart,
	// so no consumer ever moves an SMS on it.
	Status    Status    `json:"status"`
	ErrorCode string    `json:"error_code,omitempty"`
	At        time.Time `json:"at"`
}

// Final reports whether the receipt moves its SMS (to delivered or
// undelivered); an intermediate one moves nothing.
func (r Receipt) Final() bool { return r.Status == Delivered || r.Status == Undelivered }
