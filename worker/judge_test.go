package worker

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/smsfleet/smsfleet/internal/config"
	"github.com/smsfleet/smsfleet/internal/sms"
	"github.com/smsfleet/smsfleet/internal/store"
)

func TestJudge(t *testing.T) {
	now := time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)
	consent := &store.Device{Tags: map[string]json.RawMessage{"consent": json.RawMessage("true")}}
	pol := config.Resolved{ConsentTag: "consent"}
	otpIgnores := pol
	otpIgnores.OTPIgnoresOptOut = true
	for _, c := range []struct {
		name string
		l    store.Loaded
		pol  config.Resolved
		want fate
		why  string
	}{
		{"otp sends", store.Loaded{Type: sms.OTP}, pol, fateSend, ""},
		{"transactional sends", store.Loaded{Type: sms.Transactional}, pol, fateSend, ""},
		{"marketing with consent sends", store.Loaded{Type: sms.Marketing, Device: consent}, pol, fateSend, ""},
		{"otp past its deadline expires", store.Loaded{Type: sms.OTP, Deadline: now.Add(-time.Second)}, pol, fateExpire, whyValidityEnded},
		{"marketing past its deadline expires", store.Loaded{Type: sms.Marketing, Device: consent, Deadline: now.Add(-time.Second)}, pol, fateExpire, whyValidityEnded},
		{"transactional opted out", store.Loaded{Type: sms.Transactional, OptedOut: true}, pol, fateSuppress, ReasonOptedOut},
		{"marketing opted out", store.Loaded{Type: sms.Marketing, Device: consent, OptedOut: true}, pol, fateSuppress, ReasonOptedOut},
		{"otp opted out", store.Loaded{Type: sms.OTP, OptedOut: true}, pol, fateSuppress, ReasonOptedOut},
		{"otp opted out, policy ignores it", store.Loaded{Type: sms.OTP, OptedOut: true}, otpIgnores, fateSend, ""},
		{"transactional opted out, otp-only exception", store.Loaded{Type: sms.Transactional, OptedOut: true}, otpIgnores, fateSuppress, ReasonOptedOut},
		{"transactional opted out of its sender", store.Loaded{Type: sms.Transactional, Sender: "SHOP", OptedOutFrom: []string{"SHOP"}}, pol, fateSuppress, ReasonOptedOut},
		{"transactional opted out of another sender", store.Loaded{Type: sms.Transactional, Sender: "OTHER", OptedOutFrom: []string{"SHOP"}}, pol, fateSend, ""},
		{"otp opted out of its sender, policy ignores it", store.Loaded{Type: sms.OTP, Sender: "+4930123456", OptedOutFrom: []string{"+4930123456"}}, otpIgnores, fateSend, ""},
		{"marketing without device", store.Loaded{Type: sms.Marketing}, pol, fateSuppress, ReasonNoConsent},
		{"marketing without consent", store.Loaded{Type: sms.Marketing, Device: &store.Device{}}, pol, fateSuppress, ReasonNoConsent},
		{"transactional needs no consent", store.Loaded{Type: sms.Transactional, Device: &store.Device{}}, pol, fateSend, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			v := judge(c.l, c.pol, now)
			if v.fate != c.want || v.reason != c.why {
				t.Errorf("judge = %v %q, want %v %q", v.fate, v.reason, c.want, c.why)
			}
		})
	}
}
