// Package sms holds the domain of one SMS: its statuses and the only moves
// between them, its lane, its phone number and its deterministic identity.
package sms

import "fmt"

// Status is where one SMS stands. The zero value is not a status.
type Status string

// The statuses of the monotonic status machine (docs/decisions.md#4). A
// new status must be added to AllStatuses, rank and Terminal/Outcome below:
// the store's Lua is generated from this table.
const (
	Scheduled   Status = "scheduled"
	Queued      Status = "queued"
	Sending     Status = "sending"
	Sent        Status = "sent"
	Unknown     Status = "unknown"
	Delivered   Status = "delivered"
	Undelivered Status = "undelivered"
	Failed      Status = "failed"
	Expired     Status = "expired"
	Suppressed  Status = "suppressed"
	Canceled    Status = "canceled"
)

// AllStatuses lists every status in the order reports show them.
var AllStatuses = []Status{Scheduled, Queued, Sending, Sent, Unknown, Delivered, Undelivered, Failed, Expired, Suppressed, Canceled}

// rank orders the non-terminal path; a move must climb it.
var rank = map[Status]int{
	Scheduled: 0, Queued: 1, Sending: 2, Sent: 3, Unknown: 4,
	Delivered: 5, Undelivered: 5, Failed: 5, Expired: 5, Suppressed: 5, Canceled: 5,
}

// Terminal reports whether nothing may follow s. Unknown is not terminal: a
// late receipt still upgrades it (docs/decisions.md#9).
func (s Status) Terminal() bool {
	switch s {
	case Delivered, Undelivered, Failed, Expired, Suppressed, Canceled:
		return true
	}
	return false
}

// Outcome reports whether reaching s is news for the sender of the SMS: an
// event on the outcomes topic and a status callback. Canceled is too: the
// sender canceled the message, but every SMS's stream of events must end
// in an outcome (issue 19), whoever asked.
func (s Status) Outcome() bool {
	switch s {
	case Delivered, Undelivered, Failed, Expired, Suppressed, Unknown, Canceled:
		return true
	}
	return false
}

// Valid reports whether s is one of the known statuses.
func (s Status) Valid() bool { _, ok := rank[s]; return ok }

// Pending reports whether the SMS has not been handed to a provider yet and
// may still be canceled.
func (s Status) Pending() bool { return s == Scheduled || s == Queued }

// CanMove reports whether an SMS in status from may move to status to. Moves
// only go forward, so a replayed task or receipt can never undo progress or
// count twice.
func CanMove(from, to Status) bool {
	if !from.Valid() || !to.Valid() || from.Terminal() || from == to {
		return false
	}
	switch to {
	case Canceled, Expired, Suppressed:
		// Only an SMS no provider has seen can be withdrawn.
		return from == Scheduled || from == Queued || (to != Canceled && from == Sending)
	case Failed:
		return rank[from] <= rank[Sending]
	case Delivered, Undelivered, Unknown:
		return rank[from] >= rank[Sent] && rank[to] > rank[from]
	}
	return rank[to] > rank[from]
}

// ParseStatus turns a stored string back into a Status.
func ParseStatus(s string) (Status, error) {
	st := Status(s)
	if !st.Valid() {
		return "", fmt.Errorf("unknown status %q", s)
	}
	return st, nil
}
