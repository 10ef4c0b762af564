package history

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/smsfleet/smsfleet/internal/sms"
	"github.com/smsfleet/smsfleet/internal/store"
)

// The page of one message: its text per language, schedule, counts, the
// hourly chart and its recipients.

// recipientPage is how many recipients the message page lists at once.
const recipientPage = 50

type groupRow struct {
	Zone       string
	SendAt     time.Time
	Recipients int
	Fanout     string
}

type recipientRow struct {
	ID, Phone, Status, Reason, Provider string
	// Cost is what the SMS cost with its currency, "" when unknown.
	Cost      string
	Segments  int
	UpdatedAt time.Time
}

type messageData struct {
	Message   messageRow
	Texts     []text
	CreatedAt time.Time
	SendAt    time.Time
	Timezone  string
	Groups    []groupRow
	Segments  int64
	// Cost is the message's cost with its currency, "" when unknown.
	Cost       string
	Chart      chart
	Recipients []recipientRow
	// From is the first listed recipient's position (1-based), To the last.
	From, To   int
	Prev, Next string
	CSV        string
}

func (d messageData) searchPhone() string { return "" }

// loadMessage is app's message code, or a 404 (another application's
// message is as absent as one that never was).
func (s *Server) loadMessage(r *http.Request, app, code string) (store.Message, error) {
	m, err := s.o.Store.GetMessage(r.Context(), app, code)
	if errors.Is(err, store.ErrNotFound) {
		return m, pageError(http.StatusNotFound, "", "There is no message "+strconv.Quote(code)+" in this application (or it is past the retention).")
	}
	return m, err
}

func (s *Server) message(w http.ResponseWriter, r *http.Request, v *viewer) error {
	m, err := s.loadMessage(r, v.App, r.PathValue("code"))
	if err != nil {
		return err
	}
	offset := 0
	if o := r.URL.Query().Get("offset"); o != "" {
		offset, err = strconv.Atoi(o)
		if err != nil || offset < 0 {
			return pageError(http.StatusBadRequest, "offset", "offset must be a value from a Next link.")
		}
	}
	recs, next, err := s.o.Store.Recipients(r.Context(), m, offset, recipientPage)
	if err != nil {
		return err
	}
	reasons, err := s.reasons(r, recs)
	if err != nil {
		return err
	}
	base := cookiePath + "messages/" + m.Code
	d := messageData{
		Message: rowOf(m), Texts: textsOf(shownContent(m)), CreatedAt: m.CreatedAt, SendAt: m.SendAt, Timezone: m.Timezone,
		Segments: m.Segments, Cost: s.cost(m.Cost, m.Priced), Chart: hourlyChart(m.Hourly), From: offset + 1, To: offset + len(recs),
		CSV: ExportPrefix + "messages/" + m.Code + "/recipients.csv",
	}
	for _, g := range m.Groups {
		d.Groups = append(d.Groups, groupRow{Zone: g.Zone, SendAt: g.SendAt, Recipients: g.Recipients, Fanout: g.Fanout})
	}
	for i, rec := range recs {
		d.Recipients = append(d.Recipients, recipientRow{ID: rec.ID, Phone: rec.To, Status: string(rec.Status), Reason: reasons[i],
			Provider: rec.Provider, Segments: rec.Segments, Cost: s.cost(rec.Cost, rec.Priced), UpdatedAt: rec.UpdatedAt})
	}
	if offset > 0 {
		d.Prev = base + "?offset=" + strconv.Itoa(max(0, offset-recipientPage))
	}
	if next >= 0 {
		d.Next = base + "?offset=" + strconv.Itoa(next)
	}
	s.render(w, r, http.StatusOK, "message", "Message "+m.Code, v, d)
	return nil
}

// reasons says in a few words why each SMS is where it is: the
// suppression's reason, the provider's error, or the receipt's error code.
func (s *Server) reasons(r *http.Request, recs []store.SMS) ([]string, error) {
	ids := make([]string, len(recs))
	for i, rec := range recs {
		ids[i] = rec.ID
	}
	codes, err := s.o.Store.ReceiptCodes(r.Context(), ids)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(recs))
	for i, rec := range recs {
		out[i] = reasonOf(rec, codes[i])
	}
	return out, nil
}

func reasonOf(rec store.SMS, receiptCode string) string {
	switch {
	case rec.Reason != "":
		return rec.Reason
	case rec.Error != "":
		return rec.Error
	case receiptCode != "" && rec.Status == sms.Undelivered:
		return "receipt error " + receiptCode
	case receiptCode != "":
		return "receipt code " + receiptCode
	}
	return ""
}
