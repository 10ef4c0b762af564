package history

import (
	"errors"
	"net/http"
	"sort"
	"strconv"
	"time"

	"github.com/smsfleet/smsfleet/internal/sms"
	"github.com/smsfleet/smsfleet/internal/store"
)

// The page of one SMS: its record and its timeline.

// event is one line of an SMS's timeline.
type event struct {
	At   time.Time
	What string
	// Detail is the provider's error, receipt code, or the like.
	Detail string
	// Kind styles the line: "ok", "bad" or "".
	Kind string
}

type smsData struct {
	ID, Phone, Status, Reason, Provider, ProviderRef, Encoding, Operator string
	// Cost is what the SMS cost with its currency, "" when unknown.
	Cost                string
	Segments, Attempts  int
	Deadline, UpdatedAt time.Time
	Message             messageRow
	Timeline            []event
	// Unwritten: the SMS has no record yet (its message is scheduled).
	Unwritten bool
	// Replies are the phone's replies that answer it (replies.go).
	Replies []replyRow
}

func (d smsData) searchPhone() string { return d.Phone }

func (s *Server) smsPage(w http.ResponseWriter, r *http.Request, v *viewer) error {
	id := r.PathValue("id")
	notFound := pageError(http.StatusNotFound, "", "There is no SMS "+strconv.Quote(id)+" in this application (or it is past the retention).")
	rec, err := s.o.Store.GetSMS(r.Context(), id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		// A recipient of a scheduled message has no record until its
		// group fans out: its message tells what there is to tell.
		rec = unwritten(id)
	case err != nil:
		return err
	}
	m, err := s.o.Store.GetMessage(r.Context(), v.App, rec.Code)
	if errors.Is(err, store.ErrNotFound) {
		return notFound // another application's SMS looks like none
	}
	if err != nil {
		return err
	}
	if rec.UpdatedAt.IsZero() && m.Canceled {
		rec.Status = sms.Canceled
	}
	codes, err := s.o.Store.ReceiptCodes(r.Context(), []string{id})
	if err != nil {
		return err
	}
	d := smsData{
		ID: rec.ID, Phone: rec.To, Status: string(rec.Status), Reason: reasonOf(rec, codes[0]), Provider: rec.Provider, ProviderRef: rec.ProviderRef,
		Encoding: rec.Encoding, Operator: rec.Operator, Segments: rec.Segments, Cost: s.cost(rec.Cost, rec.Priced), Attempts: rec.Attempts, Deadline: rec.Deadline, UpdatedAt: rec.UpdatedAt,
		Message: rowOf(m), Timeline: timelineOf(m, rec, codes[0]), Unwritten: rec.UpdatedAt.IsZero(),
	}
	if rec.To != "" {
		if d.Replies, err = s.repliesTo(r.Context(), v.App, rec.To, rec.ID, dueOf(m)); err != nil {
			return err
		}
	}
	title := "SMS " + rec.ID
	if rec.To != "" {
		title = "SMS to " + rec.To
	}
	s.render(w, r, http.StatusOK, "sms", title, v, d)
	return nil
}

// unwritten is the SMS id names before its record exists: scheduled, in
// the message its id names.
func unwritten(id string) store.SMS {
	return store.SMS{ID: id, Code: sms.MessageCodeOf(id), Status: sms.Scheduled}
}

// timelineOf tells an SMS's story from what the store keeps: the message's
// creation and send time, every provider attempt (its own time, provider
// and outcome), then the receipt and the outcome event. The store keeps
// one time for the SMS's latest status move (its record's update time), so
// the receipt and the outcome event carry that time.
func timelineOf(m store.Message, rec store.SMS, receiptCode string) []event {
	ev := []event{{At: m.CreatedAt, What: "Message created (" + string(m.Type) + ")"}}
	if m.SendAt.After(m.CreatedAt) {
		ev = append(ev, event{At: m.SendAt, What: "Scheduled to send"})
	}
	for _, a := range rec.History {
		e := event{At: a.At, What: "Attempt via " + a.Provider + ": " + a.Outcome, Detail: a.Error, Kind: "bad"}
		if a.Outcome == "sent" {
			e.Kind = "ok"
			e.What = "Sent via " + a.Provider
		}
		ev = append(ev, e)
	}
	at := rec.UpdatedAt
	if at.IsZero() { // no record yet
		return ev
	}
	switch rec.Status {
	case sms.Delivered:
		ev = append(ev, event{At: at, What: "Receipt from " + dashed(rec.Provider) + ": delivered", Detail: codeDetail(receiptCode), Kind: "ok"})
	case sms.Undelivered:
		ev = append(ev, event{At: at, What: "Receipt from " + dashed(rec.Provider) + ": undelivered", Detail: codeDetail(receiptCode), Kind: "bad"})
	case sms.Unknown:
		ev = append(ev, event{At: at, What: "No receipt within the delivery wait: unknown", Kind: "bad"})
	case sms.Failed, sms.Expired, sms.Suppressed, sms.Canceled:
		ev = append(ev, event{At: at, What: "Ended " + string(rec.Status), Detail: reasonOf(rec, ""), Kind: "bad"})
	case sms.Sent:
		ev = append(ev, event{At: at, What: "Waiting for the receipt"})
	default:
		ev = append(ev, event{At: at, What: "Now " + string(rec.Status)})
	}
	if rec.Status.Outcome() {
		what := "Outcome event: " + string(rec.Status) + " (outcomes topic"
		if m.StatusCallback != "" {
			what += " and status callback"
		}
		ev = append(ev, event{At: at, What: what + ")"})
	}
	sort.SliceStable(ev, func(i, j int) bool { return ev[i].At.Before(ev[j].At) })
	return ev
}

func codeDetail(code string) string {
	if code == "" {
		return ""
	}
	return "provider code " + code
}

func dashed(s string) string {
	if s == "" {
		return "the provider"
	}
	return s
}
