package tasks

import (
	"testing"
	"time"

	"github.com/smsfleet/smsfleet/internal/sms"
)

func TestSendPayloadRoundTripsAndReadsTheLegacyIDOnlyPayload(t *testing.T) {
	for _, p := range []SendPayload{
		{ID: "AAAA-00000000-00000001.0123456789abcdef", App: "SHOP1-00001", Phone: "+4915112000001"},
		{ID: "AAAA-00000000-00000001.0123456789abcdef"}, // legacy: the id alone
	} {
		task := SendFor(p, sms.OTP, 3, time.Minute)
		if got := ParseSend(task.Payload()); got != p {
			t.Errorf("ParseSend(%q) = %+v, want %+v", task.Payload(), got, p)
		}
	}
	if got := ParseSend(Send("X.1", sms.OTP, 3, time.Minute).Payload()); got != (SendPayload{ID: "X.1"}) {
		t.Errorf("legacy Send payload parsed as %+v", got)
	}
}
