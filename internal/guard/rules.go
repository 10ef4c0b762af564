package guard

import (
	"slices"
	"strconv"
	"strings"

	"github.com/nyaruka/phonenumbers/v2"

	"github.com/smsfleet/smsfleet/internal/config"
	"github.com/smsfleet/smsfleet/internal/sms"
)

// Rules are one application's guards in force: normalized, defaults
// filled (config.Guards.Normalize, WithDefaults).
type Rules struct{ config.Guards }

// Country is the ISO code libphonenumber gives an E.164 number ("" for
// none, e.g. a non-geographic +800 number).
func Country(e164 string) string {
	num, err := phonenumbers.Parse(e164, "")
	if err != nil {
		return ""
	}
	r := phonenumbers.GetRegionCodeForNumber(num)
	if r == "001" || r == "ZZ" {
		return ""
	}
	return r
}

// Destination says whether an SMS may go to the E.164 number phone: nil,
// or the refusal of the denied range it is in or of the country it is
// not allowed to.
func (r Rules) Destination(phone string) *Refusal {
	for _, p := range r.DeniedRanges {
		if strings.HasPrefix(phone, p) {
			return refuse(RuleRange, "%s is in a denied range (%s %q)", rangeShown(p), fieldRanges, p)
		}
	}
	if len(r.Countries) == 0 {
		return nil
	}
	cc := Country(phone)
	if !slices.Contains(r.Countries, cc) {
		if cc == "" {
			cc = "no country"
		}
		return refuse(RuleCountry, "%s is in %s, not an allowed country (%s %v)", sms.MaskPhone(phone), cc, fieldCountries, r.Countries)
	}
	return nil
}

// rangeShown writes a range as its numbers are written, without a number
// of its own: "+449" -> "+44 9xx".
func rangeShown(p string) string {
	for n := 1; n <= 3 && n < len(p); n++ {
		cc, _ := strconv.Atoi(p[1 : 1+n])
		if phonenumbers.GetRegionCodeForCountryCode(cc) != "ZZ" {
			return p[:1+n] + " " + p[1+n:] + "xx"
		}
	}
	return p + "xx"
}

// Sender resolves a request's sender: given (already normalized by the
// caller), it must be one of the allowed senders; absent (""), it is the
// guards' default sender, else fallback (the policy's). The refusal names
// guards.senders.
func (r Rules) Sender(given, fallback string) (string, *Refusal) {
	s := given
	if s == "" {
		s = fallback
		if r.DefaultSender != "" {
			s = r.DefaultSender
		}
	}
	if len(r.Senders) == 0 {
		return s, nil
	}
	if s == "" {
		return "", refuse(RuleSender, "required: the application may send only from %s %v and has no default_sender", fieldSenders, r.Senders)
	}
	if !slices.Contains(r.Senders, s) {
		return "", refuse(RuleSender, "%q is not an allowed sender (%s %v)", s, fieldSenders, r.Senders)
	}
	return s, nil
}

// Pumping reports whether OTP pumping protection is on.
func (r Rules) Pumping() bool { return r.OTPPerPhoneHour > 0 || r.OTPPerPrefixMinute > 0 }

// Prefix is the number prefix of phone pumping is counted by.
func (r Rules) Prefix(phone string) string {
	n := r.PrefixDigits + 1 // the "+"
	if n <= 0 || n > len(phone) {
		return phone
	}
	return phone[:n]
}
