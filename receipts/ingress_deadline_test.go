package receipts

import (
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/smsfleet/smsfleet/internal/httprole"
	"github.com/smsfleet/smsfleet/internal/provider"
	"github.com/smsfleet/smsfleet/internal/store"
	"github.com/smsfleet/smsfleet/internal/testenv"
)

// TestIngressAnswers503WhileKafkaIsFrozen: a broker that accepts
// connections and never answers (a frozen host) gets the provider a 503
// with Retry-After within the request's deadline. The broker stays frozen
// until the answer arrived, so an answer at all proves the webhook did not
// wait for it.
func TestIngressAnswers503WhileKafkaIsFrozen(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c) // held open, never answered
			mu.Unlock()
		}
	}()
	thaw := func() {
		_ = ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	}
	t.Cleanup(thaw)
	p := NewProducer([]string{ln.Addr().String()}, Topic)
	t.Cleanup(func() { _ = p.Close() })
	mux := http.NewServeMux()
	srv := httptest.NewUnstartedServer(httprole.Deadline(300*time.Millisecond, mux))
	NewIngress([]provider.Source{{Name: "tw", Kind: "twilio", Secret: "tw-token", PublicURL: "http://" + srv.Listener.Addr().String()}},
		p, store.New(testenv.NewRedis(t).Client(t), time.Hour), nil, zap.NewNop()).Register(mux)
	srv.Start()
	defer srv.Close()

	fields := url.Values{"MessageSid": {"SM1"}, "MessageStatus": {"delivered"}}
	u := srv.URL + "/webhooks/dlr/tw"
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(fields.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Twilio-Signature", provider.TwilioSignature("tw-token", u, fields))
	type answer struct {
		status     int
		retryAfter string
		err        error
	}
	done := make(chan answer, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- answer{err: err}
			return
		}
		resp.Body.Close()
		done <- answer{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After")}
	}()
	var got answer
	select {
	case got = <-done:
	case <-time.After(2 * time.Minute): // hang guard only
		t.Fatal("no answer while the broker is frozen: the webhook hangs")
	}
	thaw()
	if got.err != nil || got.status != http.StatusServiceUnavailable || got.retryAfter == "" {
		t.Fatalf("receipt while Kafka is frozen: HTTP %d, Retry-After %q, %v; want 503 with Retry-After", got.status, got.retryAfter, got.err)
	}
}
