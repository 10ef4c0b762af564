package msgquery

import (
	"errors"
	"testing"
	"time"

	"github.com/smsfleet/smsfleet/internal/sms"
	"github.com/smsfleet/smsfleet/internal/store"
)

// TestParse: each bad filter is a FieldError naming it.
func TestParse(t *testing.T) {
	tests := []struct{ from, to, typ, status, field string }{
		{"2026-11-01", "2026-11-30", "otp", "delivered", ""},
		{"2026-13-01", "", "", "", "from"},
		{"", "yesterday", "", "", "to"},
		{"2026-11-02", "2026-11-01", "", "", "to"},
		{"", "", "push", "", "type"},
		{"", "", "", "lost", "status"},
	}
	for _, tt := range tests {
		_, err := Parse(tt.from, tt.to, tt.typ, tt.status)
		var fe *FieldError
		switch {
		case tt.field == "" && err != nil:
			t.Errorf("Parse(%q, %q, %q, %q) = %v, want none", tt.from, tt.to, tt.typ, tt.status, err)
		case tt.field != "" && (!errors.As(err, &fe) || fe.Field != tt.field):
			t.Errorf("Parse(%q, %q, %q, %q) = %v, want a FieldError on %s", tt.from, tt.to, tt.typ, tt.status, err, tt.field)
		}
	}
}

// TestMatch: the date range takes whole UTC days of the due date (the
// last group's send time), both ends included.
func TestMatch(t *testing.T) {
	day := func(d, h int) time.Time { return time.Date(2026, 11, d, h, 0, 0, 0, time.UTC) }
	m := store.Message{Type: sms.OTP, CreatedAt: day(9, 8), SendAt: day(10, 23), Counts: map[sms.Status]int64{sms.Delivered: 1}}
	tests := []struct {
		from, to, typ, status string
		want                  bool
	}{
		{"", "", "", "", true},
		{"2026-11-10", "2026-11-10", "", "", true},
		{"2026-11-11", "", "", "", false},
		{"", "2026-11-09", "", "", false},
		{"", "", "otp", "delivered", true},
		{"", "", "marketing", "", false},
		{"", "", "", "failed", false},
	}
	for _, tt := range tests {
		q, err := Parse(tt.from, tt.to, tt.typ, tt.status)
		if err != nil {
			t.Fatal(err)
		}
		if got := q.Match(m); got != tt.want {
			t.Errorf("%+v matches %v, want %v", tt, got, tt.want)
		}
	}
}
