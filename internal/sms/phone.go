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

// phoneCandidate matches what may be a phone number inside free text: a +
// and 7 to 15 digits, possibly split into groups by single spaces or
// dashes (+49 151 1234 5678), or a bare run of 8 to 15 digits (an SMPP
// error quoting 4915112345678). MaskPhonesIn then checks each.
var phoneCandidate = regexp.MustCompile(`\+\d(?:[ \-]?\d){6,14}|\d{8,15}`)

// MaskPhonesIn masks every run in free text (provider error messages
// quote numbers) that looks like a phone number, so it can be logged and
// shown. Only numbers are touched, not the other digit runs errors and
// payloads carry: a run glued to letters or to a digit (a hex SMS id such
// as AAAA-00000000-00000000.2719310ffff5b6e5, a duration like
// 1500000000ns), or joined by '.', ':', '-' or '/' to more digits or
// letters (timestamps 2026-01-01T10:43:00.123456789Z, decimals, codes), is
// not one. A run with a leading + is a number; a bare run is one only if it
// is a valid international number once a + is put before it (so unix
// timestamps and counters stay readable).
func MaskPhonesIn(s string) string {
	locs := phoneCandidate.FindAllStringIndex(s, -1)
	if locs == nil {
		return s
	}
	var b strings.Builder
	last := 0
	for _, l := range locs {
		run := s[l[0]:l[1]]
		if !phoneAt(s, l[0], l[1]) {
			continue
		}
		digits := strings.NewReplacer(" ", "", "-", "").Replace(run)
		b.WriteString(s[last:l[0]])
		b.WriteString(MaskPhone(digits))
		last = l[1]
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// phoneAt reports whether the candidate s[i:j] is a phone number rather
// than part of an id, a time, a duration or a longer number.
func phoneAt(s string, i, j int) bool {
	if i > 0 && !edge(s[i-1], s[:i-1], true) || j < len(s) && !edge(s[j], s[j+1:], false) {
		return false
	}
	if s[i] == '+' {
		return true
	}
	num, err := phonenumbers.Parse("+"+s[i:j], "")
	return err == nil && phonenumbers.IsValidNumber(num)
}

// edge reports whether c, next to a candidate run, ends it as a number of
// its own: not a letter, digit or underscore (the run is part of a word or
// a hex id), not a '.' joined to more of one (an id's suffix, a decimal),
// and not ':', '-' or '/' joined to more digits (a time, a date, a range).
// beyond is the text past c, away from the run; before says it is on the
// run's left.
func edge(c byte, beyond string, before bool) bool {
	if isWordByte(c) {
		return false
	}
	var far byte // the byte past c, if any
	if before && beyond != "" {
		far = beyond[len(beyond)-1]
	} else if !before && beyond != "" {
		far = beyond[0]
	}
	switch c {
	case '.':
		return !isWordByte(far)
	case ':', '-', '/':
		return !(far >= '0' && far <= '9')
	}
	return true
}

func isWordByte(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_'
}
