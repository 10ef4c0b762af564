package sms

import (
	"strings"
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

// TestParseZone: IANA names and fixed offsets in every form the API
// accepts, stored canonically; wrong ones refused with the reason.
func TestParseZone(t *testing.T) {
	tests := []struct {
		in        string
		canonical string // "" when refused
		offset    int    // seconds east of UTC on 2026-01-15
		wantErr   string
	}{
		{in: "Europe/Berlin", canonical: "Europe/Berlin", offset: 3600},
		{in: "UTC", canonical: "UTC", offset: 0},
		{in: "+01:00", canonical: "+01:00", offset: 3600},
		{in: "-0530", canonical: "-05:30", offset: -19800},
		{in: "+05", canonical: "+05:00", offset: 18000},
		{in: "UTC+05:45", canonical: "+05:45", offset: 20700},
		{in: "gmt-03:00", canonical: "-03:00", offset: -10800},
		{in: "+14:00", canonical: "+14:00", offset: 50400},
		{in: "+15:00", wantErr: "outside"},
		{in: "+01:60", wantErr: "must be written"},
		{in: "+1", wantErr: "must be written"},
		{in: "Local", wantErr: "unknown time zone"},
		{in: "Not/AZone", wantErr: "unknown time zone"},
		{in: "", wantErr: "unknown time zone"},
	}
	at := time.Date(2026, 1, 15, 12, 0, 0, 0, time.UTC)
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			c, err := CanonicalZone(tt.in)
			loc, perr := ParseZone(tt.in)
			if tt.wantErr != "" {
				if err == nil || perr == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("CanonicalZone(%q) = %q, %v; ParseZone err %v; want an error with %q", tt.in, c, err, perr, tt.wantErr)
				}
				return
			}
			if err != nil || perr != nil || c != tt.canonical {
				t.Fatalf("CanonicalZone(%q) = %q, %v (ParseZone %v), want %q", tt.in, c, err, perr, tt.canonical)
			}
			if _, off := at.In(loc).Zone(); off != tt.offset {
				t.Fatalf("ParseZone(%q) is %d s east of UTC, want %d", tt.in, off, tt.offset)
			}
			// What is stored reads back as the same zone.
			back, err := ParseZone(c)
			if _, off := at.In(back).Zone(); err != nil || off != tt.offset {
				t.Fatalf("the stored form %q reads back as %v, %v", c, back, err)
			}
		})
	}
}

// TestOffsetZone: Pushwoosh's integer offsets in seconds.
func TestOffsetZone(t *testing.T) {
	tests := []struct {
		secs    int
		want    string
		wantErr string
	}{
		{3600, "+01:00", ""},
		{0, "+00:00", ""},
		{-16200, "-04:30", ""},
		{50400, "+14:00", ""},
		{-43200, "-12:00", ""},
		{50460, "", "outside"},
		{3601, "", "whole number of minutes"},
	}
	for _, tt := range tests {
		got, err := OffsetZone(tt.secs)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("OffsetZone(%d) = %q, %v; want an error with %q", tt.secs, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("OffsetZone(%d) = %q, %v; want %q", tt.secs, got, err, tt.want)
		}
	}
}
