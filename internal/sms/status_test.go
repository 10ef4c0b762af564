package sms

import "testing"

func TestCanMove(t *testing.T) {
	tests := []struct {
		from, to Status
		want     bool
	}{
		{Scheduled, Queued, true},
		{Queued, Sending, true},
		{Sending, Sent, true},
		{Sent, Delivered, true},
		{Sent, Undelivered, true},
		{Sent, Unknown, true},
		{Unknown, Delivered, true}, // a late receipt still upgrades
		{Unknown, Undelivered, true},
		{Scheduled, Canceled, true},
		{Queued, Canceled, true},
		{Sending, Canceled, false}, // a provider may already have it
		{Sent, Canceled, false},
		{Queued, Suppressed, true},
		{Sending, Suppressed, true},
		{Queued, Failed, true},
		{Sending, Failed, true},
		{Sent, Failed, false},
		{Sent, Sending, false}, // never backwards
		{Sending, Queued, false},
		{Delivered, Undelivered, false},
		{Failed, Sent, false},
		{Canceled, Queued, false},
		{Queued, Queued, false}, // not a transition: counters must not move
		{Queued, Delivered, false},
		{"bogus", Queued, false},
		{Queued, "bogus", false},
	}
	for _, tt := range tests {
		if got := CanMove(tt.from, tt.to); got != tt.want {
			t.Errorf("CanMove(%s, %s) = %v, want %v", tt.from, tt.to, got, tt.want)
		}
	}
}

func TestTerminalStatusesHaveNoWayOut(t *testing.T) {
	for _, from := range AllStatuses {
		if !from.Terminal() {
			continue
		}
		for _, to := range AllStatuses {
			if CanMove(from, to) {
				t.Errorf("terminal %s may move to %s", from, to)
			}
		}
	}
}

func TestParseType(t *testing.T) {
	tests := []struct {
		in      string
		want    Type
		wantErr bool
	}{
		{"", Transactional, false},
		{"otp", OTP, false},
		{"transactional", Transactional, false},
		{"marketing", Marketing, false},
		{"promo", "", true},
		{"OTP", "", true},
	}
	for _, tt := range tests {
		got, err := ParseType(tt.in)
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("ParseType(%q) = %q, %v", tt.in, got, err)
		}
	}
}
