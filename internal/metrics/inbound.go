package metrics

// InboundUnmatched counts replies to a sender no application sends from:
// they change nothing and are kept, bounded, in the store's unmatched
// stream (sf:ibu) for the operator. The label is the configured provider
// that carried the reply, a finite set.
var InboundUnmatched = counterVec("smsfleet_inbound_unmatched_total",
	"Inbound replies to a sender no application sends from (kept unmatched, nothing changed), by provider.", "provider")

// InboundReplies counts replies kept for an application, once each
// (a redelivery is not counted again), by provider and keyword (stop,
// start, help, none).
var InboundReplies = counterVec("smsfleet_inbound_replies_total",
	"Inbound replies kept for an application, by provider and keyword (stop, start, help or none).", "provider", "keyword")

// InboundLanded counts replies landed in Kafka ("kafka") or, when Kafka
// could not take one from a provider connection, applied directly
// ("direct").
var InboundLanded = counterVec("smsfleet_inbound_landed_total",
	"Inbound replies landed, by path: kafka, or direct when Kafka is not configured or could not take them.", "path")

// InboundAnswersSkipped counts keyword answers not sent, by keyword (help,
// stop, start) and reason: "throttled" (the application's answer_limits
// for that phone and keyword were spent) or "still_opted_out" (a START
// that left an API opt-out standing, with no start_blocked_text). The
// keyword itself was applied; the stored reply records the reason.
var InboundAnswersSkipped = counterVec("smsfleet_inbound_answers_skipped_total",
	"Keyword answers not sent, by keyword and reason (throttled, still_opted_out); the keyword itself was applied.", "keyword", "reason")
