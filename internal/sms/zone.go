package sms

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nyaruka/phonenumbers/v2"
	"github.com/nyaruka/phonenumbers/v2/timezone"
)

// Zone returns the time zone a recipient lives in: its device's zone when
// set and known (an IANA name or a fixed offset, see ParseZone), else the
// phone number's (libphonenumber's prefix data; the first zone when the
// prefix spans several, as +1 does), else fallback.
func Zone(deviceTZ, phone string, fallback *time.Location) *time.Location {
	if deviceTZ != "" {
		if loc, err := ParseZone(deviceTZ); err == nil {
			return loc
		}
	}
	if num, err := phonenumbers.Parse(phone, ""); err == nil {
		if zones, err := timezone.GetTimeZonesForNumber(num); err == nil && len(zones) > 0 && zones[0] != "Etc/Unknown" {
			if loc, err := time.LoadLocation(zones[0]); err == nil {
				return loc
			}
		}
	}
	if fallback == nil {
		return time.UTC
	}
	return fallback
}

// Offsets in use run from UTC−12:00 to UTC+14:00.
const (
	minOffset = -12 * 3600
	maxOffset = 14 * 3600
)

// ParseZone reads a time zone as the API accepts it: an IANA name
// ("Europe/Berlin", "UTC"), or a fixed offset from UTC written "+01:00",
// "-0530", "+01" or with a "UTC"/"GMT" prefix ("UTC+01:00"). "Local" is
// refused: it is the server's zone, not the caller's.
func ParseZone(s string) (*time.Location, error) {
	if strings.EqualFold(s, "local") || s == "" {
		return nil, fmt.Errorf("unknown time zone %q", s)
	}
	if secs, ok, err := parseOffset(s); ok {
		if err != nil {
			return nil, err
		}
		return time.FixedZone(OffsetName(secs), secs), nil
	}
	loc, err := time.LoadLocation(s)
	if err != nil {
		return nil, fmt.Errorf("unknown time zone %q", s)
	}
	return loc, nil
}

// CanonicalZone is how a zone accepted by ParseZone is stored: an offset
// as "+hh:mm", an IANA name as given.
func CanonicalZone(s string) (string, error) {
	if secs, ok, err := parseOffset(s); ok {
		if err != nil {
			return "", err
		}
		return OffsetName(secs), nil
	}
	if _, err := ParseZone(s); err != nil {
		return "", err
	}
	return s, nil
}

// OffsetZone is the stored form of an offset in seconds east of UTC, as
// Pushwoosh's registerDevice sends it ("timezone": 3600): "+01:00". The
// offset must be whole minutes within UTC−12:00…UTC+14:00.
func OffsetZone(secs int) (string, error) {
	if secs < minOffset || secs > maxOffset {
		return "", fmt.Errorf("offset %d s is outside UTC-12:00…UTC+14:00 (-43200…50400)", secs)
	}
	if secs%60 != 0 {
		return "", fmt.Errorf("offset %d s is not a whole number of minutes", secs)
	}
	return OffsetName(secs), nil
}

// OffsetName writes an offset in seconds as "+hh:mm".
func OffsetName(secs int) string {
	sign := '+'
	if secs < 0 {
		sign, secs = '-', -secs
	}
	return fmt.Sprintf("%c%02d:%02d", sign, secs/3600, secs%3600/60)
}

// parseOffset reads "+01:00", "-0530", "+01", optionally after "UTC" or
// "GMT". ok is false when s does not look like an offset at all (an IANA
// name, then); err says why an offset is wrong.
func parseOffset(s string) (secs int, ok bool, err error) {
	t := s
	for _, p := range []string{"UTC", "GMT"} {
		if len(t) > len(p) && strings.EqualFold(t[:len(p)], p) {
			t = t[len(p):]
			break
		}
	}
	if t == "" || (t[0] != '+' && t[0] != '-') {
		return 0, false, nil
	}
	sign := 1
	if t[0] == '-' {
		sign = -1
	}
	body := strings.Replace(t[1:], ":", "", 1)
	var h, m int
	switch len(body) {
	case 2:
		h, err = strconv.Atoi(body)
	case 4:
		h, err = strconv.Atoi(body[:2])
		if err == nil {
			m, err = strconv.Atoi(body[2:])
		}
	default:
		err = fmt.Errorf("bad form")
	}
	if err != nil || h < 0 || m < 0 || m > 59 {
		return 0, true, fmt.Errorf("offset %q must be written +hh:mm, +hhmm or +hh", s)
	}
	secs = sign * (h*3600 + m*60)
	if secs < minOffset || secs > maxOffset {
		return 0, true, fmt.Errorf("offset %q is outside UTC-12:00…UTC+14:00", s)
	}
	return secs, true, nil
}
