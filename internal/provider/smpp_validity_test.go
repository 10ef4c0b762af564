package provider

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/smsfleet/smsfleet/internal/testenv"
)

func TestSMPPValidityPeriod(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	for _, tc := range []struct {
		name    string
		v       SMPPValidity
		expires time.Time
		want    string
		expired bool
	}{
		{"none set", ValidityRelative, time.Time{}, "", false},
		{"five minutes", ValidityRelative, now.Add(5 * time.Minute), "000000000500000R", false},
		{"days, hours, minutes, seconds", ValidityRelative, now.Add(26*time.Hour + 3*time.Minute + 4*time.Second), "000001020304000R", false},
		{"rounded down", ValidityRelative, now.Add(1999 * time.Millisecond), "000000000001000R", false},
		{"99 days", ValidityRelative, now.Add(99*24*time.Hour + 23*time.Hour), "000099230000000R", false},
		{"beyond 99 days: the SMSC's own maximum", ValidityRelative, now.Add(100 * 24 * time.Hour), "", false},
		{"under a second", ValidityRelative, now.Add(999 * time.Millisecond), "", true},
		{"passed", ValidityRelative, now.Add(-time.Second), "", true},
		{"absolute, in UTC", ValidityAbsolute, now.Add(5*time.Minute + 500*time.Millisecond), "260304051107000+", false},
		{"absolute from another zone", ValidityAbsolute, now.Add(time.Hour).In(time.FixedZone("x", 3600)), "260304060607000+", false},
		{"none", ValidityNone, now.Add(time.Hour), "", false},
		{"none still refuses the expired", ValidityNone, now, "", true},
	} {
		vp, expired := tc.v.validityPeriod(tc.expires, now)
		if vp != tc.want || expired != tc.expired {
			t.Errorf("%s: %q, %v; want %q, %v", tc.name, vp, expired, tc.want, tc.expired)
		}
	}
	for in, want := range map[string]SMPPValidity{"": ValidityRelative, "relative": ValidityRelative, "ABSOLUTE": ValidityAbsolute, "none": ValidityNone} {
		if got, err := ParseSMPPValidity(in); err != nil || got != want {
			t.Errorf("ParseSMPPValidity(%q) = %v, %v", in, got, err)
		}
	}
	c := Config{Name: "smsc", Kind: KindSMPP, Addr: "h:1", SystemID: "x", ValidityFormat: "R"}
	if err := c.Validate(); err == nil || err.Error() != `provider smsc (smpp): validity_format: must be relative, absolute or none, got "R"` {
		t.Errorf("Validate = %v", err)
	}
}

// TestSMPPSendValidity: the SMS's validity reaches the SMSC in each
// submit_sm's validity_period, counted down on the client's clock as the
// parts go, and an SMS already expired reaches it not at all.
func TestSMPPSendValidity(t *testing.T) {
	t.Parallel()
	smsc := testenv.NewSMSC(t).Start()
	clock := testenv.NewClock(time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC))
	c := newTestSMPP(t, smsc.Addr(), func(c *SMPPConfig) { c.Now = clock.Now })
	expires := clock.Now().Add(10 * time.Minute)

	mustSend(t, c, Request{To: "+4915112345678", Text: "Your code is 123456", Expires: expires})
	if sub := smsc.Next(t); sub.ValidityPeriod != "000000001000000R" {
		t.Errorf("validity_period %q, want 10 minutes relative", sub.ValidityPeriod)
	}
	mustSend(t, c, Request{To: "+4915112345678", Text: "no deadline"})
	if sub := smsc.Next(t); sub.ValidityPeriod != "" {
		t.Errorf("validity_period %q without a deadline", sub.ValidityPeriod)
	}

	clock.Advance(10 * time.Minute)
	_, err := c.Send(context.Background(), Request{To: "+4915112345678", Text: "too late", Expires: expires})
	pe := asError(t, err)
	if !errors.Is(err, ErrExpired) || pe.Class != Transient || pe.Ambiguous {
		t.Fatalf("%+v, want transient, not ambiguous, ErrExpired", pe)
	}
	select {
	case sub := <-smsc.Submits:
		t.Errorf("an expired SMS reached the SMSC: %+v", sub)
	default:
	}
}
