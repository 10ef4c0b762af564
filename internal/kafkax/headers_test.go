package kafkax

import (
	"errors"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
)

func headerMap(hs []kafka.Header) map[string]string {
	out := map[string]string{}
	for _, h := range hs {
		if _, dup := out[h.Key]; dup {
			out[h.Key] += "|dup"
			continue
		}
		out[h.Key] = string(h.Value)
	}
	return out
}

func TestHeaders(t *testing.T) {
	at := time.Date(2026, 3, 4, 5, 6, 7, 800_000_000, time.FixedZone("x", 3600))
	cases := []struct {
		name string
		meta Meta
		want map[string]string
	}{
		{"outcome", Meta{Type: TypeOutcome, SchemaVersion: 1, ID: "sms1:delivered", Source: "/smsfleet/outcomes", Time: at},
			map[string]string{
				"content-type": "application/json", "event-type": "sms.outcome", "schema-version": "1",
				"ce_id": "sms1:delivered", "ce_source": "/smsfleet/outcomes", "ce_type": "io.smsfleet.sms.outcome.v1",
				"ce_specversion": "1.0", "ce_time": "2026-03-04T04:06:07.8Z",
			}},
		{"receipt v2", Meta{Type: TypeReceipt, SchemaVersion: 2, ID: "r", Source: "/smsfleet/receipts", Time: at},
			map[string]string{
				"content-type": "application/json", "event-type": "sms.receipt", "schema-version": "2",
				"ce_id": "r", "ce_source": "/smsfleet/receipts", "ce_type": "io.smsfleet.sms.receipt.v2",
				"ce_specversion": "1.0", "ce_time": "2026-03-04T04:06:07.8Z",
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := headerMap(Headers(c.meta))
			if len(got) != len(c.want) {
				t.Fatalf("headers %v, want %v", got, c.want)
			}
			for k, v := range c.want {
				if got[k] != v {
					t.Errorf("%s = %q, want %q", k, got[k], v)
				}
			}
			if _, err := time.Parse(time.RFC3339, got["ce_time"]); err != nil {
				t.Errorf("ce_time is not RFC 3339: %v", err)
			}
		})
	}
}

func TestStableID(t *testing.T) {
	a := StableID("twilio", "SM1", "delivered", "")
	cases := []struct {
		name  string
		parts []string
		same  bool
	}{
		{"same parts", []string{"twilio", "SM1", "delivered", ""}, true},
		{"other status", []string{"twilio", "SM1", "undelivered", ""}, false},
		{"parts not concatenated", []string{"twilioSM1", "", "delivered", ""}, false},
	}
	for _, c := range cases {
		if got := StableID(c.parts...); (got == a) != c.same {
			t.Errorf("%s: StableID = %s vs %s, same=%v", c.name, got, a, c.same)
		}
	}
	if len(a) != 32 {
		t.Errorf("id %q: want 32 hex characters", a)
	}
}

func TestDeadLetter(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	ours := Headers(Meta{Type: TypeReceipt, SchemaVersion: 1, ID: "orig-id", Source: "/smsfleet/receipts", Time: at})
	cases := []struct {
		name    string
		in      kafka.Message
		cause   error
		want    map[string]string
		wantLen int
	}{
		{"our record keeps its headers", kafka.Message{Topic: "smsfleet.receipts", Partition: 3, Offset: 42, Key: []byte("k"), Value: []byte("{"), Headers: ours, Time: at},
			errors.New("receipt record: unexpected end of JSON input"),
			map[string]string{
				"ce_id": "orig-id", "event-type": "sms.receipt", "content-type": "application/json", "ce_type": "io.smsfleet.sms.receipt.v1",
				"dlq-error": "receipt record: unexpected end of JSON input", "dlq-original-topic": "smsfleet.receipts",
				"dlq-original-partition": "3", "dlq-original-offset": "42",
			}, 12},
		{"a foreign record gets ours", kafka.Message{Topic: "smsfleet.receipts", Partition: 0, Offset: 7, Value: []byte("junk"), Time: at},
			errors.New("bad"),
			map[string]string{
				"ce_id": "smsfleet.receipts/0/7", "ce_source": "/smsfleet/receipts-consumer", "event-type": "deadletter",
				"content-type": "application/octet-stream", "ce_type": "io.smsfleet.deadletter.v1", "ce_time": "2026-01-02T03:04:05Z",
				"dlq-error": "bad", "dlq-original-offset": "7",
			}, 12},
		{"dead-lettered again: one reason", kafka.Message{Topic: "t", Offset: 1, Value: []byte("x"),
			Headers: []kafka.Header{{Key: "dlq-error", Value: []byte("old")}, {Key: "trace", Value: []byte("abc")}}},
			nil,
			map[string]string{"dlq-error": "unknown", "trace": "abc", "ce_time": "1970-01-01T00:00:00Z"}, 13},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := DeadLetter(c.in, c.cause, "/smsfleet/receipts-consumer")
			if string(out.Key) != string(c.in.Key) || string(out.Value) != string(c.in.Value) {
				t.Errorf("key/value changed: %q/%q", out.Key, out.Value)
			}
			if out.Topic != "" || out.Partition != 0 {
				t.Errorf("topic %q partition %d: the writer's topic and balancer must decide", out.Topic, out.Partition)
			}
			got := headerMap(out.Headers)
			for k, v := range c.want {
				if got[k] != v {
					t.Errorf("%s = %q, want %q", k, got[k], v)
				}
			}
			if len(out.Headers) != c.wantLen {
				t.Errorf("%d headers %v, want %d", len(out.Headers), got, c.wantLen)
			}
		})
	}
}
