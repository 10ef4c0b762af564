package sms

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/nyaruka/phonenumbers/v2"
)

// ErrInvalidPhone is returned (wrapped) for anything that is not a dialable
// phone number.
var ErrInvalidPhone = errors.New("not a valid phone number")

// NormalizePhone validates s and returns it in E.164. Numbers without a
// leading + are read in defaultRegion (ISO 3166 alpha-2); with no default
// region they are rejected, because guessing the country of a bare national
// number sends SMS to the wrong people.
func NormalizePhone(s, defaultRegion string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", fmt.Errorf("%w: empty", ErrInvalidPhone)
	}
	region := strings.ToUpper(defaultRegion)
	if !strings.HasPrefix(s, "+") && region == "" {
		return "", fmt.Errorf("%w: %q has no country code (+...)", ErrInvalidPhone, s)
	}
	num, err := phonenumbers.Parse(s, region)
	if err != nil {
		return "", fmt.Errorf("%w: %q: %v", ErrInvalidPhone, s, err)
	}
	if !phonenumbers.IsValidNumber(num) {
		return "", fmt.Errorf("%w: %q", ErrInvalidPhone, s)
	}
	return phonenumbers.Format(num, phonenumbers.E164), nil
}

// MaskPhone hides the middle of a phone number for logs: +447700900123
// becomes +4477******23. Logs at info level never carry a full number.
func MaskPhone(p string) string {
	if len(p) <= 6 {
		return strings.Repeat("*", len(p))
	}
	head := 5
	if !strings.HasPrefix(p, "+") {
		head = 4
	}
	return p[:head] + strings.Repeat("*", len(p)-head-2) + p[len(p)-2:]
}

// phoneLike matches what may be a phone number inside free text: an
// optional + and 7 to 15 digits, possibly split by spaces or dashes.
var phoneLike = regexp.MustCompile(`\+?\d[\d \-]{5,18}\d`)

// MaskPhonesIn masks every phone-like run in free text (provider error
// messages quote numbers) so it can be logged.
func MaskPhonesIn(s string) string {
	return phoneLike.ReplaceAllStringFunc(s, func(m string) string {
		digits := strings.NewReplacer(" ", "", "-", "").Replace(m)
		if len(strings.TrimPrefix(digits, "+")) < 7 {
			return m
		}
		return MaskPhone(digits)
	})
}
