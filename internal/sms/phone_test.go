package sms

import (
	"errors"
	"strings"
	"testing"
)

func TestNormalizePhone(t *testing.T) {
	tests := []struct {
		in, region, want string
		wantErr          bool
	}{
		{"+4915112345678", "", "+4915112345678", false},
		{"+49 151 1234 5678", "", "+4915112345678", false},
		{"+49 (0)151-1234-5678", "", "+4915112345678", false},
		{"015112345678", "DE", "+4915112345678", false},
		{"015112345678", "de", "+4915112345678", false},
		{"015112345678", "", "", true}, // no country: never guess
		{"+1 415 555 0123", "", "+14155550123", false},
		{"+44 7911 123456", "", "+447911123456", false},
		{"+4915", "", "", true},
		{"hello", "", "", true},
		{"", "", "", true},
		{"+999123456789", "", "", true},
	}
	for _, tt := range tests {
		got, err := NormalizePhone(tt.in, tt.region)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("NormalizePhone(%q, %q) = %q, %v; want %q", tt.in, tt.region, got, err, tt.want)
		}
		if err != nil && !errors.Is(err, ErrInvalidPhone) {
			t.Errorf("NormalizePhone(%q): error %v is not ErrInvalidPhone", tt.in, err)
		}
	}
}

func TestMaskPhone(t *testing.T) {
	tests := map[string]string{
		"+447912345656":  "+4479******56",
		"+4915112345678": "+4915*******78",
		"+1415":          "*****",
		"":               "",
	}
	for in, want := range tests {
		got := MaskPhone(in)
		if got != want {
			t.Errorf("MaskPhone(%q) = %q, want %q", in, got, want)
		}
		if len(in) > 6 && strings.Contains(got, in[5:len(in)-2]) {
			t.Errorf("MaskPhone(%q) leaks the middle digits: %q", in, got)
		}
	}
}

func TestNewMessageCodeShape(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		c, err := NewMessageCode()
		if err != nil {
			t.Fatal(err)
		}
		if len(c) != 22 || c[4] != '-' || c[13] != '-' || strings.ToUpper(c) != c || seen[c] {
			t.Fatalf("bad or repeated code %q", c)
		}
		seen[c] = true
	}
}

// TestMaskPhonesIn: numbers in free text are masked, and nothing else is:
// SMS ids, timestamps, durations, hex strings and counters stay readable
// (the masking used to turn an id into ...2719*10ffff5b6e5 and a time into
// 2026**01T10:43).
func TestMaskPhonesIn(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"twilio error", "The 'To' number +15005550001 is not a valid phone number.", "The 'To' number +1500*****01 is not a valid phone number."},
		{"bare E.164 digits", "dest 4915112345678 rejected", "dest 4915*******78 rejected"},
		{"grouped", "to +49 151 1234 5678, code 21211", "to +4915*******78, code 21211"},
		{"after a colon", "phone:+4915112345678", "phone:+4915*******78"},
		{"bare after a key", "msisdn=447911123456;", "msisdn=4479******56;"},
		{"in parentheses", "(+447911123456)", "(+4479******56)"},
		{"in JSON", `{"error":"number +447911123456 barred"}`, `{"error":"number +4479******56 barred"}`},
		{"end of sentence", "blocked: 4915112345678.", "blocked: 4915*******78."},
		{"two numbers", "+4915112345678 and +447911123456", "+4915*******78 and +4479******56"},
		{"no numbers", "no numbers here", "no numbers here"},
		{"a small count", "HTTP 503 after 30001 ms", "HTTP 503 after 30001 ms"},
		{"sms id", "sms AAAA-00000000-00000000.2719310ffff5b6e5 failed", "sms AAAA-00000000-00000000.2719310ffff5b6e5 failed"},
		{"sms id of digits", "AAAA-00000000-0000000A.2719310444555666", "AAAA-00000000-0000000A.2719310444555666"},
		{"message code of digits", "1234-56789012-34567890", "1234-56789012-34567890"},
		{"RFC 3339", "at 2026-01-01T10:43:00Z", "at 2026-01-01T10:43:00Z"},
		{"RFC 3339 nano", "2026-01-01T10:43:00.123456789+01:00", "2026-01-01T10:43:00.123456789+01:00"},
		{"compact time", "20260101T104300Z", "20260101T104300Z"},
		{"date without dashes", "on 20260101 at noon", "on 20260101 at noon"},
		{"duration", "retry in 1m30.123456789s (1500000000ns)", "retry in 1m30.123456789s (1500000000ns)"},
		{"unix ms", "at 1767225600000", "at 1767225600000"},
		{"unix s", "at 1767225600", "at 1767225600"},
		{"hex", "trace 0123456789abcdef0123456789abcdef", "trace 0123456789abcdef0123456789abcdef"},
		{"hex digits only", "span 12345678901234567890", "span 12345678901234567890"},
		{"decimal", "cost 0.12345678901", "cost 0.12345678901"},
		{"a range", "1000000000-2000000000", "1000000000-2000000000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := MaskPhonesIn(tt.in); got != tt.want {
				t.Errorf("MaskPhonesIn(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}
