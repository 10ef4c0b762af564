package e2e_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/smsfleet/smsfleet/internal/config"
	"github.com/smsfleet/smsfleet/internal/e2e/harness"
	"github.com/smsfleet/smsfleet/internal/fleet"
	"github.com/smsfleet/smsfleet/internal/outcomes"
	"github.com/smsfleet/smsfleet/internal/testenv"
	"github.com/smsfleet/smsfleet/receipts"
)

// TestPrivacyOTPRedactedAndNumbersHashed (issue 17) runs a whole fleet
// whose shop application hashes its numbers: an OTP sent without
// `redact` is delivered, then its text is gone from the API ("[redacted]")
// while it is still counted; a transactional message keeps its text; the
// outcome events on Kafka and the status callbacks carry phone_hash =
// hex HMAC-SHA256(key, number) and no number.
func TestPrivacyOTPRedactedAndNumbersHashed(t *testing.T) {
	const key = "shop-number-hash-key-0123456789abcdef"
	k := testenv.NewKafka(t, 3, receipts.Topic, receipts.TopicDLQ, outcomes.Topic)
	rcv := newCallbackReceiver(t, 0)
	e := harness.New(t, withReceiptsOn(k), func(c *config.Config, _ *fleet.Roles) {
		c.Callback = config.Callback{Secrets: map[string]string{harness.ShopApp: shopCallbackSecret}, MaxAttempts: 3, Timeout: 2 * time.Second, AllowPrivate: true}
		allowHTTPCallbacks(c, harness.ShopApp)
		for i := range c.Applications {
			if c.Applications[i].Code == harness.ShopApp {
				c.Applications[i].Privacy = config.Privacy{HashNumbers: true, NumberHashKey: key}
			}
		}
	})
	e.Sim.SendReceipts(20*time.Millisecond, e.Config.SimulatorSecret)
	otpPhone, txPhone := "+4915112340005", "+4915112340015"
	e.Register(harness.ShopApp, harness.ShopToken, otpPhone, txPhone)
	cb := rcv.srv.URL + "/sms-status"
	otp := e.Send(map[string]any{"send_date": "now", "content": "Your code is 481516", "message_type": "otp", "devices": []string{otpPhone}, "status_callback": cb})
	tx := e.Send(map[string]any{"send_date": "now", "content": "Your parcel ships today", "devices": []string{txPhone}, "status_callback": cb})
	e.WaitCounts(otp, map[string]int64{"delivered": 1}, 20*time.Second)
	e.WaitCounts(tx, map[string]int64{"delivered": 1}, 20*time.Second)

	content := func(code string) string {
		var v struct {
			Message struct {
				Content  json.RawMessage
				Counts   map[string]int64
				Segments int64
			}
		}
		if st := e.Native("/api/v1/messages/"+code, harness.ShopToken, &v); st != 200 {
			t.Fatalf("GET message %s: HTTP %d", code, st)
		}
		if v.Message.Counts["delivered"] != 1 || v.Message.Segments != 1 {
			t.Errorf("message %s: counts %v, segments %d; want it still counted", code, v.Message.Counts, v.Message.Segments)
		}
		return string(v.Message.Content)
	}
	if got := content(otp); got != `"[redacted]"` {
		t.Errorf("the delivered OTP's content is %s, want \"[redacted]\"", got)
	}
	if got := content(tx); got != `"Your parcel ships today"` {
		t.Errorf("the transactional message's content is %s, want its text", got)
	}

	hashOf := func(phone string) string {
		m := hmac.New(sha256.New, []byte(key))
		m.Write([]byte(phone))
		return hex.EncodeToString(m.Sum(nil))
	}
	want := map[string]bool{hashOf(otpPhone): true, hashOf(txPhone): true}
	events := readOutcomes(t, k, 2, 20*time.Second)
	if len(events) != 2 {
		t.Fatalf("%d outcome events, want 2: %+v", len(events), events)
	}
	for _, ev := range events {
		if ev.Phone != "" || !want[ev.PhoneHash] {
			t.Errorf("outcome event %+v: want no phone and phone_hash one of %v", ev, want)
		}
	}
	harness.Eventually(t, 20*time.Second, func() bool {
		_, acc := rcv.snapshot()
		return len(acc) == 2
	}, func() string {
		_, acc := rcv.snapshot()
		return fmt.Sprintf("%d callbacks accepted, want 2", len(acc))
	})
	_, acc := rcv.snapshot()
	for id, evs := range acc {
		if evs[0].Phone != "" || !want[evs[0].PhoneHash] {
			t.Errorf("callback %s: %+v; want no phone and its hash", id, evs[0])
		}
	}
}
