package sms

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// ErrInvalidSender is returned (wrapped) for a sender no operator would
// accept as the From of an SMS.
var ErrInvalidSender = errors.New("invalid sender")

// Sender id limits. An alphanumeric originator is sent as GSM7 packed into
// the 10-octet TP-OA address field, which holds 11 septets (3GPP TS 23.040
// §9.1.2.5); short codes are 3 to 8 digits depending on the country.
const (
	maxAlphaSender    = 11
	minShortCodeDigit = 3
	maxShortCodeDigit = 8
)

// NormalizeSender validates the sender (From) of an SMS and returns it in
// the form to send:
//
//   - starting with +, a phone number, returned in E.164 (NormalizePhone);
//   - 3–8 digits, a short code, returned as is;
//   - otherwise an alphanumeric sender id, returned as given: 1–11
//     characters among A–Z a–z 0–9, space, '.', '-', '_' and '&', with at
//     least one letter and no leading or trailing space.
//
// The alphanumeric set is deliberately narrower than the GSM alphabet:
// operators and aggregators commonly reject or rewrite anything else (an "é"
// or "!" may be replaced, dropped or get the message blocked), and an
// all-digit id would be read by handsets as a phone number you cannot reply
// to. Errors wrap ErrInvalidSender and say exactly what is wrong.
func NormalizeSender(s string) (string, error) {
	if s == "" {
		return "", senderErr(s, "is empty", nil)
	}
	if s[0] == '+' {
		e164, err := NormalizePhone(s, "")
		if err != nil {
			return "", senderErr(s, "is "+err.Error(), err)
		}
		return e164, nil
	}
	if allDigits(s) {
		if n := len(s); n < minShortCodeDigit || n > maxShortCodeDigit {
			return "", senderErr(s, fmt.Sprintf(
				"is %d digits: a short code has %d to %d, a phone number needs a leading + and country code",
				n, minShortCodeDigit, maxShortCodeDigit), nil)
		}
		return s, nil
	}
	if !utf8.ValidString(s) {
		return "", senderErr(s, "is not valid UTF-8", nil)
	}
	letter := false
	for _, r := range s {
		switch {
		case 'a' <= r && r <= 'z', 'A' <= r && r <= 'Z':
			letter = true
		case '0' <= r && r <= '9', strings.ContainsRune(" .-_&", r):
		default:
			return "", senderErr(s, fmt.Sprintf(
				"contains %q, not allowed in an alphanumeric sender id (A-Z, a-z, 0-9, space . - _ &)", string(r)), nil)
		}
	}
	if n := utf8.RuneCountInString(s); n > maxAlphaSender {
		return "", senderErr(s, fmt.Sprintf("is longer than %d characters", maxAlphaSender), nil)
	}
	if s[0] == ' ' || s[len(s)-1] == ' ' {
		return "", senderErr(s, "has a leading or trailing space", nil)
	}
	if !letter {
		return "", senderErr(s, "has no letter: an alphanumeric sender id needs one, a short code is digits only", nil)
	}
	return s, nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// senderError reads `sender "ACME SUPER SALE" is longer than 11 characters`
// and matches ErrInvalidSender and, for phone numbers, ErrInvalidPhone (whose
// message already forms the reason).
type senderError struct {
	sender, reason string
	cause          error
}

func senderErr(s, reason string, cause error) error {
	return &senderError{sender: s, reason: reason, cause: cause}
}

func (e *senderError) Error() string {
	return fmt.Sprintf("sender %q %s", e.sender, e.reason)
}

func (e *senderError) Unwrap() []error {
	if e.cause != nil {
		return []error{ErrInvalidSender, e.cause}
	}
	return []error{ErrInvalidSender}
}
