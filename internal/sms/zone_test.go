package sms

import (
	"testing"
	"time"
)

func TestZone(t *testing.T) {
	tokyo, _ := time.LoadLocation("Asia/Tokyo")
	tests := []struct {
		device, phone string
		fallback      *time.Location
		want          string
	}{
		{"Europe/Lisbon", "+4915112345678", nil, "Europe/Lisbon"}, // the device wins
		{"", "+4915112345678", nil, "Europe/Berlin"},
		{"", "+447911123456", nil, "Europe/London"},
		{"", "+2348031234567", nil, "Africa/Lagos"},
		{"Not/AZone", "+33612345678", nil, "Europe/Paris"}, // an unknown device zone falls through
		{"", "+999", tokyo, "Asia/Tokyo"},
		{"", "garbage", nil, "UTC"},
	}
	// A prefix may span several zones with one clock (UK mobiles are
	// Guernsey, Isle of Man, Jersey and London): compare wall clocks over a
	// year, not names.
	for _, tt := range tests {
		got := Zone(tt.device, tt.phone, tt.fallback)
		want, _ := time.LoadLocation(tt.want)
		for m := range 12 {
			at := time.Date(2026, time.Month(m+1), 15, 12, 0, 0, 0, time.UTC)
			_, g := at.In(got).Zone()
			_, w := at.In(want).Zone()
			if g != w {
				t.Errorf("Zone(%q, %q) = %s, want the clock of %s", tt.device, tt.phone, got, tt.want)
				break
			}
		}
	}
}
