package intake

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseSendDate(t *testing.T) {
	now := time.Date(2026, 11, 24, 12, 0, 30, 0, time.UTC)
	tests := []struct {
		name, date, tz string
		want           time.Time
		wantErr        string
	}{
		{"now", "now", "", now, ""},
		{"NOW any case", "Now", "", now, ""},
		{"utc by default", "2026-11-24 13:15", "", time.Date(2026, 11, 24, 13, 15, 0, 0, time.UTC), ""},
		{"in a zone", "2026-11-24 13:15", "Europe/Berlin", time.Date(2026, 11, 24, 12, 15, 0, 0, time.UTC), ""},
		{"this minute is now", "2026-11-24 12:00", "", now, ""},
		{"90 s ago is more than a minute", "2026-11-24 11:59", "", time.Time{}, "send_date: 2026-11-24 11:59 is in the past"},
		{"older is an error", "2026-11-24 11:58", "", time.Time{}, "send_date: 2026-11-24 11:58 is in the past"},
		{"a year ahead is the limit", "2027-11-26 12:00", "", time.Time{}, "more than a year ahead"},
		{"missing", "", "", time.Time{}, "send_date: required"},
		{"bad format", "24.11.2026 13:15", "", time.Time{}, "send_date: must be"},
		{"seconds are not Pushwoosh's format", "2026-11-24 13:15:00", "", time.Time{}, "send_date: must be"},
		{"unknown zone", "now", "Mars/Base", time.Time{}, "timezone: unknown IANA time zone"},
		{"Local is not a zone", "now", "Local", time.Time{}, "timezone: unknown IANA time zone"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _, err := parseSendDate(tt.date, tt.tz, now, "n")
			if tt.wantErr != "" {
				var ae *apiError
				if !errors.As(err, &ae) || ae.Code != codeArgument || !strings.Contains(ae.Message, tt.wantErr) || !strings.HasPrefix(ae.Message, "n.") {
					t.Fatalf("error %v, want a 210 containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || !got.Equal(tt.want) {
				t.Fatalf("got %s, %v; want %s", got, err, tt.want)
			}
		})
	}
}

func TestStringList(t *testing.T) {
	tests := []struct {
		in      string
		want    []string
		wantErr bool
	}{
		{`["+4915112000001","+4915112000002"]`, []string{"+4915112000001", "+4915112000002"}, false},
		{`"+4915112000001"`, []string{"+4915112000001"}, false},
		{`null`, nil, false},
		{`[]`, []string{}, false},
		{`[1,2]`, nil, true},
		{`{}`, nil, true},
	}
	for _, tt := range tests {
		var l stringList
		err := json.Unmarshal([]byte(tt.in), &l)
		if (err != nil) != tt.wantErr || len(l) != len(tt.want) {
			t.Errorf("%s: %v %v", tt.in, l, err)
		}
	}
}

func TestTokenFromHeader(t *testing.T) {
	tests := map[string]string{
		"Token abc":      "abc",
		"token   abc  ":  "abc",
		"Bearer abc":     "",
		"abc":            "",
		"":               "",
		"Token":          "",
		"Token a b":      "a b",
		"  Token x-y-z ": "x-y-z",
	}
	for in, want := range tests {
		if got := tokenFromHeader(in); got != want {
			t.Errorf("tokenFromHeader(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestArgErrorFromJSONNamesTheField(t *testing.T) {
	var n notification
	err := decodeArgs(json.RawMessage(`{"send_date": 5}`), &n, "notifications[2]")
	var ae *apiError
	if !errors.As(err, &ae) || !strings.HasPrefix(ae.Message, "notifications[2].send_date: must be a string") {
		t.Fatalf("got %v", err)
	}
	var req createRequest
	err = decodeArgs(json.RawMessage(`{"notifications": {}}`), &req, "")
	if !errors.As(err, &ae) || !strings.HasPrefix(ae.Message, "notifications: must be an array") {
		t.Fatalf("got %v", err)
	}
}
