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

func TestMaskPhonesIn(t *testing.T) {
	tests := map[string]string{
		"The 'To' number +15005550001 is not a valid phone number.": "The 'To' number +1500*****01 is not a valid phone number.",
		"HTTP 503 after 30001 ms":                                   "HTTP 503 after 30001 ms",
		"dest 4915112345678 rejected":                               "dest 4915*******78 rejected",
		"to +49 151 1234 5678, code 21211":                          "to +4915*******78, code 21211",
		"no numbers here":                                           "no numbers here",
	}
	for in, want := range tests {
		if got := MaskPhonesIn(in); got != want {
			t.Errorf("MaskPhonesIn(%q) = %q, want %q", in, got, want)
		}
	}
}
