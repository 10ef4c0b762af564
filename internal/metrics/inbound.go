package metrics

// InboundUnmatched counts STOP/START replies to a sender no application
// sends from: they change no opt-out and are kept, bounded, in the store's
// unmatched stream (sf:ibu) for the operator. The label is the configured
// provider that carried the reply, a finite set.
var InboundUnmatched = counterVec("smsfleet_inbound_unmatched_total",
	"Inbound STOP/START replies to a sender no application sends from (kept unmatched, nothing changed), by provider.", "provider")
