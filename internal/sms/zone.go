package sms

import (
	"time"

	"github.com/nyaruka/phonenumbers/v2"
	"github.com/nyaruka/phonenumbers/v2/timezone"
)

// Zone returns the time zone a recipient lives in: its device's zone when
// set and known, else the phone number's (libphonenumber's prefix data; the
// first zone when the prefix spans several, as +1 does), else fallback.
func Zone(deviceTZ, phone string, fallback *time.Location) *time.Location {
	if deviceTZ != "" {
		if loc, err := time.LoadLocation(deviceTZ); err == nil {
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
