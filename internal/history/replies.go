package history

import (
	"context"
	"time"

	"github.com/smsfleet/smsfleet/internal/sms"
	"github.com/smsfleet/smsfleet/internal/store"
)

// Replies from phones (issue 17) in the Message History: the phone page
// lists the phone's replies within the retention, each beside the SMS it
// answers, and an SMS's page shows the replies that answer it. A reply
// answers the last SMS the phone may have received (sent, delivered or
// unknown: not one scheduled, failed or suppressed) at or before it, from
// the sender it was sent to: the message's own sender, or, for a message
// that names none, the application's (a reply is kept for an application
// only when it was sent to the application's sender, so any such
// message's).

// maxReplies bounds the replies a page reads: the newest of the phone.
const maxReplies = 100

type replyRow struct {
	ID, To, Text, Keyword, Provider string
	At                              time.Time
	// Answers is the SMS it answers, when that SMS is on the page ("":
	// none, or an older one).
	Answers string
}

// phoneReplies reads app's newest replies from phone (since from, when
// not zero).
func (s *Server) phoneReplies(ctx context.Context, app, phone string, from time.Time) ([]replyRow, error) {
	ms, _, err := s.o.Store.ListInbound(ctx, app, store.InboundQuery{Phone: phone, From: from, Limit: maxReplies}, 0)
	if err != nil {
		return nil, err
	}
	out := make([]replyRow, len(ms))
	for i, m := range ms {
		out[i] = replyRow{ID: m.ID, To: m.To, Text: m.Text, Keyword: m.Keyword, Provider: m.Provider, At: m.At}
	}
	return out, nil
}

// attachReplies sets each reply's Answers to the SMS of rows it answers
// and lists it on that row; appSender is the sender of the rows whose
// message names none.
func attachReplies(rows []phoneRow, replies []replyRow, appSender string) {
	for i := range replies {
		r := &replies[i]
		best := -1
		for j, row := range rows {
			from := row.Sender
			if from == "" {
				from = appSender
			}
			if !received[row.Status] || row.Date.After(r.At) || !sameSender(from, r.To) {
				continue
			}
			if best < 0 || row.Date.After(rows[best].Date) {
				best = j
			}
		}
		if best >= 0 {
			r.Answers = rows[best].ID
			rows[best].Replies = append(rows[best].Replies, *r)
		}
	}
}

// received are the statuses of an SMS the phone may have received.
var received = map[string]bool{string(sms.Sent): true, string(sms.Delivered): true, string(sms.Unknown): true}

// sameSender reports whether an SMS sent from sender was sent from to, a
// reply's `to`, as opt-outs compare them (store.SenderScope).
func sameSender(sender, to string) bool {
	a, ok1 := store.SenderScope(sender)
	b, ok2 := store.SenderScope(to)
	return ok1 && ok2 && a == b
}

// repliesTo returns the replies that answer SMS id to phone, sent at
// since: the phone's replies from then on, attached to the phone's newest
// SMS (the first page of its index), keeping those attached to id.
func (s *Server) repliesTo(ctx context.Context, app, phone, id string, since time.Time) ([]replyRow, error) {
	replies, err := s.phoneReplies(ctx, app, phone, since)
	if err != nil || len(replies) == 0 {
		return nil, err
	}
	ids, _, err := s.o.Store.SMSByPhone(ctx, app, phone, pageSize, 0)
	if err != nil {
		return nil, err
	}
	rows, err := s.phoneRows(ctx, app, phone, ids)
	if err != nil {
		return nil, err
	}
	attachReplies(rows, replies, s.appSender(app))
	for _, row := range rows {
		if row.ID == id {
			return row.Replies, nil
		}
	}
	return nil, nil
}

// appSender is the sender of app's SMS whose message names none.
func (s *Server) appSender(app string) string {
	if s.o.Sender == nil {
		return ""
	}
	return s.o.Sender(app)
}
