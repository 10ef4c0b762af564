package outcomes

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"go.uber.org/zap"

	"github.com/smsfleet/smsfleet/internal/kafkax"
)

// hmacHex is the hash an application computes of its own numbers, as
// hash.go documents it, written out here independently of HashPhone.
func hmacHex(key, phone string) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte(phone))
	return hex.EncodeToString(m.Sum(nil))
}

// TestHashedNumbersInEventAndCallback (issue 17): for an application with
// a number hash key, the Kafka event and the status callback carry
// phone_hash = hex HMAC-SHA256(key, E.164 number) and no phone; an
// application without one still gets the number.
func TestHashedNumbersInEventAndCallback(t *testing.T) {
	const key = "0123456789abcdef0123456789abcdef"
	for _, tc := range []struct {
		name   string
		key    []byte
		phone  string
		hashed bool
	}{
		{"hashed", []byte(key), "+4915112000101", true},
		{"not configured", nil, "+4915112000102", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newRig(t)
			rc := newReceiver(t, http.StatusNoContent)
			g.failed(t, "HASH-00000000-00000001", tc.phone, rc.URL+"/cb")
			r := &Relay{Store: g.store, Writer: kafkax.NewWriter([]string{g.kafka.Addr}, Topic), Queue: g.queue,
				MaxAttempts: attempts, Timeout: cbTime, Log: zap.NewNop(), OrphanAfter: time.Hour,
				NumberHashKey: func(a string) []byte {
					if a == app {
						return tc.key
					}
					return nil
				}}
			defer r.Writer.Close()
			stop := run(t, r)
			msgs := g.read(t, 1)
			waitFor(t, "the backlog to be acknowledged", func() bool { return g.backlog(t) == 0 })
			stop()

			cbs := g.callbackTasks(t)
			if len(cbs) != 1 {
				t.Fatalf("%d callback tasks, want 1", len(cbs))
			}
			if err := callbacks(true).ProcessTask(context.Background(), asynq.NewTask(cbs[0].Type, cbs[0].Payload)); err != nil {
				t.Fatal(err)
			}
			for where, body := range map[string][]byte{"kafka": msgs[0].Value, "callback": rc.body} {
				var ev map[string]any
				if err := json.Unmarshal(body, &ev); err != nil {
					t.Fatalf("%s: %v", where, err)
				}
				if tc.hashed {
					if ev["phone_hash"] != hmacHex(key, tc.phone) {
						t.Errorf("%s: phone_hash %v, want HMAC-SHA256(key, %s) = %s", where, ev["phone_hash"], tc.phone, hmacHex(key, tc.phone))
					}
					if _, ok := ev["phone"]; ok || strings.Contains(string(body), tc.phone[1:]) {
						t.Errorf("%s: the number is still in the event %s", where, body)
					}
				} else if ev["phone"] != tc.phone || ev["phone_hash"] != nil {
					t.Errorf("%s: event %s, want the number and no hash", where, body)
				}
			}
		})
	}
}
