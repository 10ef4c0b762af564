package history

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/smsfleet/smsfleet/internal/sms"
	"github.com/smsfleet/smsfleet/internal/store"
)

// Search by phone: every SMS of the application to one phone within the
// retention, newest first, from the per-phone index (store.SMSByPhone).

type phoneRow struct {
	ID, Code, Type, Status, Reason, Provider, Preview string
	// Text is the message's (first) text, whole; content is its content
	// JSON, from which the export picks the SMS's own variant (csv_text.go).
	Text    string
	content string
	Date    time.Time
	// Sender is the message's own sender ("" for the application's);
	// Replies are the phone's replies that answer this SMS (replies.go).
	Sender  string
	Replies []replyRow
}

type phoneData struct {
	Query, Phone string
	Rows         []phoneRow
	Replies      []replyRow
	Prev, Next   string
	CSV          string
}

func (d phoneData) searchPhone() string { return d.Query }

// normalizePhone reads the phone parameter as the intake reads numbers.
func (s *Server) normalizePhone(r *http.Request) (query, phone string, err error) {
	query = strings.TrimSpace(r.URL.Query().Get("phone"))
	if query == "" {
		return query, "", pageError(http.StatusBadRequest, "phone", "Enter a phone number to search for.")
	}
	phone, err = sms.NormalizePhone(query, s.o.DefaultRegion)
	if err != nil {
		msg := "phone is not a phone number we can send to: write it with its country code, like +447911123456."
		if s.o.DefaultRegion != "" {
			msg = "phone is not a phone number we can send to (numbers without + are read as " + strings.ToUpper(s.o.DefaultRegion) + " numbers)."
		}
		return query, "", pageError(http.StatusBadRequest, "phone", msg)
	}
	return query, phone, nil
}

func (s *Server) phonePage(w http.ResponseWriter, r *http.Request, v *viewer) error {
	query, phone, err := s.normalizePhone(r)
	if err != nil {
		return &queryError{err: err, query: query}
	}
	p, err := parsePaging(r.URL.Query())
	if err != nil {
		return err
	}
	s.log.Info("history phone search", zap.String("application", v.App), zap.String("phone", sms.MaskPhone(phone)))
	ids, next, err := s.o.Store.SMSByPhone(r.Context(), v.App, phone, pageSize, p.cursor)
	if err != nil {
		return err
	}
	rows, err := s.phoneRows(r.Context(), v.App, phone, ids)
	if err != nil {
		return err
	}
	replies, err := s.phoneReplies(r.Context(), v.App, phone, time.Time{})
	if err != nil {
		return err
	}
	attachReplies(rows, replies, s.appSender(v.App))
	d := phoneData{Query: query, Phone: phone, Rows: rows, Replies: replies, CSV: ExportPrefix + "phone.csv?" + url.Values{"phone": {phone}}.Encode()}
	base := url.Values{"phone": {phone}}
	d.Prev, d.Next = p.links(cookiePath, base, next)
	s.render(w, r, http.StatusOK, "phone", "SMS to "+phone, v, d)
	return nil
}

// queryError keeps the search box's text on the error page.
type queryError struct {
	err   error
	query string
}

func (e *queryError) Error() string { return e.err.Error() }
func (e *queryError) Unwrap() error { return e.err }

// phoneRows loads the SMS of ids with their messages; one whose record or
// message is gone (past the retention) or is not app's is left out.
func (s *Server) phoneRows(ctx context.Context, app, phone string, ids []string) ([]phoneRow, error) {
	recs, err := s.o.Store.GetSMSBatch(ctx, ids)
	if err != nil {
		return nil, err
	}
	codes, err := s.o.Store.ReceiptCodes(ctx, ids)
	if err != nil {
		return nil, err
	}
	msgs := map[string]*store.Message{}
	var rows []phoneRow
	for i, rec := range recs {
		if rec.ID == "" {
			rec = unwritten(ids[i]) // scheduled: not fanned out yet
		}
		if rec.To != "" && rec.To != phone {
			continue // an index entry that names another phone's SMS
		}
		m, seen := msgs[rec.Code]
		if !seen {
			got, err := s.o.Store.GetMessage(ctx, app, rec.Code)
			switch {
			case errors.Is(err, store.ErrNotFound):
			case err != nil:
				return nil, err
			default:
				m = &got
			}
			msgs[rec.Code] = m
		}
		if m == nil {
			continue
		}
		if rec.UpdatedAt.IsZero() && m.Canceled {
			rec.Status = sms.Canceled
		}
		rows = append(rows, phoneRow{ID: rec.ID, Code: rec.Code, Type: string(m.Type), Status: string(rec.Status), Reason: reasonOf(rec, codes[i]),
			Provider: rec.Provider, Preview: preview(shownContent(*m)), Text: firstText(shownContent(*m)), content: shownContent(*m), Date: dueOf(*m), Sender: m.Sender})
	}
	return rows, nil
}
