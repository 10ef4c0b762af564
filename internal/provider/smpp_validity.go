package provider

import (
	"fmt"
	"strings"
	"time"
)

// SMPP validity_period (SMPP 3.4 §5.2.15, time formats §7.1.1).
//
// What is left of the SMS's validity (Request.Expires) goes in each
// submit_sm, so the SMSC stops trying when the SMS is no longer worth
// delivering (an OTP that arrives hours late is worse than none). The
// default is the relative form, "0000DDhhmmss000R": it is counted from
// when the SMSC receives the submit_sm, so it does not depend on the
// SMSC's clock or time zone agreeing with ours, which the absolute form
// ("YYMMDDhhmmss" + tenths + quarter hours from UTC + "+"/"-") does. For
// an SMSC that reads only the absolute form, validity_format: absolute
// writes that (in UTC, "000+"); none sends no validity_period (the SMSC's
// default applies). Seconds are rounded down, so the carrier never holds
// the SMS past its deadline. A validity beyond 99 days, which the relative
// form cannot write in days, is left out: every SMSC's own maximum is
// shorter.

// SMPPValidity is how validity_period is written.
type SMPPValidity int

// The validity_format values.
const (
	ValidityRelative SMPPValidity = iota
	ValidityAbsolute
	ValidityNone
)

func (v SMPPValidity) String() string {
	switch v {
	case ValidityAbsolute:
		return "absolute"
	case ValidityNone:
		return "none"
	}
	return "relative"
}

// ParseSMPPValidity reads a validity_format value ("" is relative).
func ParseSMPPValidity(s string) (SMPPValidity, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "relative":
		return ValidityRelative, nil
	case "absolute":
		return ValidityAbsolute, nil
	case "none":
		return ValidityNone, nil
	}
	return 0, fmt.Errorf("must be relative, absolute or none, got %q", s)
}

// maxRelativeValidity is the longest validity the relative form writes.
const maxRelativeValidity = 100*24*time.Hour - time.Second

// validityPeriod is the validity_period of an SMS expiring at expires
// sent at now ("" for none); expired is true when under a second is left.
func (v SMPPValidity) validityPeriod(expires, now time.Time) (vp string, expired bool) {
	left, ok, expired := remaining(expires, now)
	if !ok || expired || v == ValidityNone {
		return "", expired
	}
	if v == ValidityAbsolute {
		return now.Add(left).UTC().Format("060102150405") + "000+", false
	}
	if left > maxRelativeValidity {
		return "", false
	}
	s := int64(left / time.Second)
	return fmt.Sprintf("0000%02d%02d%02d%02d000R", s/86400, s/3600%24, s/60%60, s%60), false
}
