package sms

import (
	"errors"
	"testing"
)

func TestNormalizeSender(t *testing.T) {
	tests := []struct {
		in, want string
		err      string // exact error message when invalid
	}{
		// Alphanumeric ids, returned as given.
		{"ACME", "ACME", ""},
		{"a", "a", ""},
		{"Acme Bank", "Acme Bank", ""},
		{"ACME-SHOP_1", "ACME-SHOP_1", ""},
		{"B&Q", "B&Q", ""},
		{"shop.de", "shop.de", ""},
		{"1A", "1A", ""},
		{"ABCDEFGHIJK", "ABCDEFGHIJK", ""},
		{"ACME SUPER SALE", "", `sender "ACME SUPER SALE" is longer than 11 characters`},
		{"ABCDEFGHIJKL", "", `sender "ABCDEFGHIJKL" is longer than 11 characters`},
		{"Café", "", `sender "Café" contains "é", not allowed in an alphanumeric sender id (A-Z, a-z, 0-9, space . - _ &)`},
		{"Sale!", "", `sender "Sale!" contains "!", not allowed in an alphanumeric sender id (A-Z, a-z, 0-9, space . - _ &)`},
		{"A+B", "", `sender "A+B" contains "+", not allowed in an alphanumeric sender id (A-Z, a-z, 0-9, space . - _ &)`},
		{"ACME\tX", "", `sender "ACME\tX" contains "\t", not allowed in an alphanumeric sender id (A-Z, a-z, 0-9, space . - _ &)`},
		{"Ωmega", "", `sender "Ωmega" contains "Ω", not allowed in an alphanumeric sender id (A-Z, a-z, 0-9, space . - _ &)`},
		{" ACME", "", `sender " ACME" has a leading or trailing space`},
		{"ACME ", "", `sender "ACME " has a leading or trailing space`},
		{"12-34", "", `sender "12-34" has no letter: an alphanumeric sender id needs one, a short code is digits only`},
		{"   ", "", `sender "   " has a leading or trailing space`},
		{"", "", `sender "" is empty`},
		{"AC\xffME", "", `sender "AC\xffME" is not valid UTF-8`},
		// Short codes.
		{"123", "123", ""},
		{"12345678", "12345678", ""},
		{"12", "", `sender "12" is 2 digits: a short code has 3 to 8, a phone number needs a leading + and country code`},
		{"4915112345678", "", `sender "4915112345678" is 13 digits: a short code has 3 to 8, a phone number needs a leading + and country code`},
		// Phone numbers, to E.164.
		{"+4915112345678", "+4915112345678", ""},
		{"+49 151 1234 5678", "+4915112345678", ""},
		{"+1 415 555 0123", "+14155550123", ""},
		{"+4915", "", `sender "+4915" is not a valid phone number: "+4915"`},
		{"+", "", ""},
	}
	for _, tt := range tests {
		got, err := NormalizeSender(tt.in)
		if tt.want != "" {
			if err != nil || got != tt.want {
				t.Errorf("NormalizeSender(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
			continue
		}
		if err == nil {
			t.Errorf("NormalizeSender(%q) = %q, want an error", tt.in, got)
			continue
		}
		if !errors.Is(err, ErrInvalidSender) {
			t.Errorf("NormalizeSender(%q): %v is not ErrInvalidSender", tt.in, err)
		}
		if tt.err != "" && err.Error() != tt.err {
			t.Errorf("NormalizeSender(%q) error\n got %s\nwant %s", tt.in, err, tt.err)
		}
	}
}

func TestNormalizeSenderPhoneErrorIsPhoneError(t *testing.T) {
	_, err := NormalizeSender("+999123456789")
	if !errors.Is(err, ErrInvalidSender) || !errors.Is(err, ErrInvalidPhone) {
		t.Fatalf("err = %v, want both ErrInvalidSender and ErrInvalidPhone", err)
	}
}
