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
		task := SendFor(p, sms.OTP, 1, 3, time.Minute)
		if got := ParseSend(task.Payload()); got != p {
			t.Errorf("ParseSend(%q) = %+v, want %+v", task.Payload(), got, p)
		}
	}
	if got := ParseSend(Send("X.1", sms.OTP, 1, 3, time.Minute).Payload()); got != (SendPayload{ID: "X.1"}) {
		t.Errorf("legacy Send payload parsed as %+v", got)
	}
}

func TestSendPayloadCarriesItsRetries(t *testing.T) {
	p := SendPayload{ID: "X.1", App: "SHOP1-00001", Phone: "+4915112000001", Retried: 3}
	if got := ParseSend(SendFor(p, sms.OTP, 1, 3, time.Minute).Payload()); got != p {
		t.Fatalf("ParseSend = %+v, want %+v", got, p)
	}
}

func TestSendBatchRoundTripsAndRefusesBadPayloads(t *testing.T) {
	refs := []SendPayload{{ID: "X.1", App: "A", Phone: "+4915112000001"}, {ID: "X.2", App: "A", Phone: "+4915112000002"}}
	task := SendBatch("sb:X.1", refs, sms.Marketing, 1, 16, time.Minute)
	got, typ, err := ParseSendBatch(task.Payload())
	if err != nil || typ != sms.Marketing || len(got) != 2 || got[0] != refs[0] || got[1] != refs[1] || task.Type() != TypeSendBatch {
		t.Fatalf("ParseSendBatch = %+v %s %v", got, typ, err)
	}
	for _, bad := range []string{`garbage`, `{"t":"","s":[]}`, `{"t":"otp","s":[{"a":"A"}]}`, `{"t":"fax","s":[]}`} {
		if _, _, err := ParseSendBatch([]byte(bad)); err == nil {
			t.Errorf("ParseSendBatch(%s) accepted", bad)
		}
	}
}
