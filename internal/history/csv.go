package history

import (
	"encoding/csv"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/smsfleet/smsfleet/internal/sms"
)

// CSV exports (RFC 4180, with a header row) of a message's recipients and
// of a phone's history. A cell that a spreadsheet would read as a formula
// (it starts with =, +, -, @, a tab or a carriage return) is prefixed with
// a ': provider errors and message texts are other people's words, and
// opening the file must not run them. Phone numbers (+44...) are prefixed
// too: the ' keeps the + that a spreadsheet would otherwise drop.

// csvBatch is how many rows one read of the store takes.
const csvBatch = 500

// maxPhoneRows bounds a phone's export.
const maxPhoneRows = 100_000

// safeCell defuses a cell a spreadsheet would run as a formula.
func safeCell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// csvWriter writes rows through safeCell.
type csvWriter struct{ w *csv.Writer }

func startCSV(w http.ResponseWriter, filename string, header []string) *csvWriter {
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="`+filename+`"`)
	cw := &csvWriter{w: csv.NewWriter(w)}
	cw.w.UseCRLF = true // RFC 4180
	cw.row(header...)
	return cw
}

func (c *csvWriter) row(cells ...string) {
	for i := range cells {
		cells[i] = safeCell(cells[i])
	}
	_ = c.w.Write(cells)
}

func (c *csvWriter) flush() error { c.w.Flush(); return c.w.Error() }

func csvTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// filenameSafe keeps a code's letters, digits and dashes for a filename.
func filenameSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '-' || r == '_' || r == '.' || (r >= '0' && r <= '9') || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') {
			return r
		}
		return -1
	}, s)
}

// messageCSV exports every recipient of a message, read a batch at a time.
func (s *Server) messageCSV(w http.ResponseWriter, r *http.Request, v *viewer) error {
	m, err := s.loadMessage(r, v.App, r.PathValue("code"))
	if err != nil {
		return err
	}
	// The first batch is read before anything is written, so an error there
	// is still a proper error page.
	recs, next, err := s.o.Store.Recipients(r.Context(), m, 0, csvBatch)
	if err != nil {
		return err
	}
	cw := startCSV(w, "message-"+filenameSafe(m.Code)+"-recipients.csv",
		[]string{"sms_id", "phone", "status", "reason", "provider", "provider_ref", "segments", "encoding", "operator", "attempts", "updated_at"})
	for {
		reasons, err := s.reasons(r, recs)
		if err != nil {
			return s.abortCSV(r, err)
		}
		for i, rec := range recs {
			cw.row(rec.ID, rec.To, string(rec.Status), reasons[i], rec.Provider, rec.ProviderRef, strconv.Itoa(rec.Segments), rec.Encoding,
				rec.Operator, strconv.Itoa(rec.Attempts), csvTime(rec.UpdatedAt))
		}
		if next < 0 {
			break
		}
		if recs, next, err = s.o.Store.Recipients(r.Context(), m, next, csvBatch); err != nil {
			return s.abortCSV(r, err)
		}
	}
	return cw.flush()
}

// phoneCSV exports a phone's history, newest first.
func (s *Server) phoneCSV(w http.ResponseWriter, r *http.Request, v *viewer) error {
	_, phone, err := s.normalizePhone(r)
	if err != nil {
		return err
	}
	s.log.Info("history phone export", zap.String("application", v.App), zap.String("phone", sms.MaskPhone(phone)))
	ids, next, err := s.o.Store.SMSByPhone(r.Context(), v.App, phone, csvBatch, 0)
	if err != nil {
		return err
	}
	lang, err := s.deviceLanguage(r.Context(), v.App, phone)
	if err != nil {
		return err
	}
	digits := strings.TrimPrefix(phone, "+")
	cw := startCSV(w, "phone-"+digits+".csv", []string{"date", "message", "type", "sms_id", "phone", "status", "reason", "provider", "text"})
	written := 0
	for {
		rows, err := s.phoneRows(r.Context(), v.App, phone, ids)
		if err != nil {
			return s.abortCSV(r, err)
		}
		for _, row := range rows {
			cw.row(csvTime(row.Date), row.Code, row.Type, row.ID, phone, row.Status, row.Reason, row.Provider, sentText(row.content, lang))
		}
		written += len(rows)
		if next == 0 || written >= maxPhoneRows {
			break
		}
		if ids, next, err = s.o.Store.SMSByPhone(r.Context(), v.App, phone, csvBatch, next); err != nil {
			return s.abortCSV(r, err)
		}
	}
	return cw.flush()
}

// abortCSV handles an error after the export began: the status is sent,
// so the error is logged and the connection's answer cut short, which the
// browser reports as a failed download rather than a whole-looking file.
func (s *Server) abortCSV(r *http.Request, err error) error {
	s.log.Error("history: export cut short", zap.String("path", r.URL.Path), zap.Error(err))
	panic(http.ErrAbortHandler)
}
