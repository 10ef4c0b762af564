package outcomes

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"go.uber.org/zap"

	"github.com/smsfleet/smsfleet/internal/signature"
	"github.com/smsfleet/smsfleet/internal/tasks"
)

const secret = "cb-secret"

// receiver is a status callback endpoint answering status, recording what
// it got.
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	hits   int
	body   []byte
	header http.Header
	method string
}

func newReceiver(t *testing.T, status int) *receiver {
	t.Helper()
	rc := &receiver{}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.hits++
		rc.body, rc.header, rc.method = b, r.Header.Clone(), r.Method
		rc.mu.Unlock()
		w.WriteHeader(status)
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) count() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.hits
}

func callbacks(allowPrivate bool) *Callbacks {
	return &Callbacks{
		Client: NewHTTPClient(5*time.Second, allowPrivate),
		Secret: func(app string) string {
			if app == "SHOP1-00001" {
				return secret
			}
			return ""
		},
		Log: zap.NewNop(),
	}
}

var eventBody = []byte(`{"event_id":"A.1:delivered","status":"delivered"}`)

func callbackTaskTo(t *testing.T, url, app string) *asynq.Task {
	t.Helper()
	payload, err := json.Marshal(callbackTask{URL: url, App: app, Body: eventBody})
	if err != nil {
		t.Fatal(err)
	}
	return tasks.Callback("A.1:delivered", payload, 3, time.Second)
}

func TestCallbackIsSigned(t *testing.T) {
	rc := newReceiver(t, http.StatusNoContent)
	if err := callbacks(true).ProcessTask(context.Background(), callbackTaskTo(t, rc.URL+"/cb?x=1", "SHOP1-00001")); err != nil {
		t.Fatal(err)
	}
	if rc.count() != 1 || rc.method != http.MethodPost || string(rc.body) != string(eventBody) {
		t.Fatalf("receiver got %d requests, last %s %s", rc.count(), rc.method, rc.body)
	}
	if rc.header.Get("Content-Type") != "application/json" || rc.header.Get("User-Agent") != "smsfleet-callbacks/1" {
		t.Fatalf("headers %v", rc.header)
	}
	sig := rc.header.Get(SignatureHeader)
	if !signature.Valid(secret, rc.body, sig) {
		t.Fatalf("signature %q does not verify with the application's secret", sig)
	}
	if signature.Valid("another secret", rc.body, sig) {
		t.Fatal("signature verifies with another secret")
	}
}

// TestCallbackPassesAStandardVerifier (issue 13 item 5): a customer
// checks our callbacks with the Standard Webhooks library's own Verify:
// it accepts them under the application's secret (timestamp within its
// tolerance of the wall clock it reads), webhook-id is the event id, and
// another secret or an old timestamp is refused.
func TestCallbackPassesAStandardVerifier(t *testing.T) {
	rc := newReceiver(t, http.StatusNoContent)
	if err := callbacks(true).ProcessTask(context.Background(), callbackTaskTo(t, rc.URL, "SHOP1-00001")); err != nil {
		t.Fatal(err)
	}
	wh, err := standardwebhooks.NewWebhookRaw([]byte(secret))
	if err != nil {
		t.Fatal(err)
	}
	if err := wh.Verify(rc.body, rc.header); err != nil {
		t.Fatalf("standard verifier refused our callback: %v (headers %v)", err, rc.header)
	}
	if id := rc.header.Get("webhook-id"); id != "A.1:delivered" {
		t.Fatalf("webhook-id %q, want the event id", id)
	}
	other, _ := standardwebhooks.NewWebhookRaw([]byte("another secret"))
	if other.Verify(rc.body, rc.header) == nil {
		t.Fatal("verifies with another secret")
	}
	// Sent by a clock an hour behind: a standard verifier refuses it as
	// too old, which is what stops a replay of a captured callback.
	cb := callbacks(true)
	cb.Now = func() time.Time { return time.Now().Add(-time.Hour) }
	if err := cb.ProcessTask(context.Background(), callbackTaskTo(t, rc.URL, "SHOP1-00001")); err != nil {
		t.Fatal(err)
	}
	if err := wh.Verify(rc.body, rc.header); !errors.Is(err, standardwebhooks.ErrMessageTooOld) {
		t.Fatalf("an hour-old callback: %v, want too old", err)
	}
}

func TestCallbackAnswers(t *testing.T) {
	for _, tt := range []struct {
		status int
		err    string
	}{
		{200, ""}, {202, ""}, {299, ""},
		{300, "callback POST: HTTP 300"}, {404, "callback POST: HTTP 404"}, {500, "callback POST: HTTP 500"}, {503, "callback POST: HTTP 503"},
	} {
		rc := newReceiver(t, tt.status)
		err := callbacks(true).ProcessTask(context.Background(), callbackTaskTo(t, rc.URL, "SHOP1-00001"))
		switch {
		case tt.err == "" && err != nil:
			t.Errorf("HTTP %d: %v", tt.status, err)
		case tt.err != "" && (err == nil || err.Error() != tt.err):
			t.Errorf("HTTP %d: got %v, want %q", tt.status, err, tt.err)
		case errors.Is(err, asynq.SkipRetry):
			t.Errorf("HTTP %d: %v must be retried", tt.status, err)
		}
		if rc.count() != 1 {
			t.Errorf("HTTP %d: %d requests", tt.status, rc.count())
		}
	}
}

func TestCallbackNotSent(t *testing.T) {
	rc := newReceiver(t, 200)
	c := callbacks(true)
	ctx := context.Background()
	// The secret was removed after intake: never POST unsigned.
	err := c.ProcessTask(ctx, callbackTaskTo(t, rc.URL, "BANK1-00002"))
	if !errors.Is(err, asynq.SkipRetry) || !strings.Contains(err.Error(), "application BANK1-00002: it has no callback secret any more") {
		t.Fatalf("no secret: %v", err)
	}
	err = c.ProcessTask(ctx, asynq.NewTask(tasks.TypeCallback, []byte("{")))
	if !errors.Is(err, asynq.SkipRetry) || !strings.HasPrefix(err.Error(), "callback payload: ") {
		t.Fatalf("bad payload: %v", err)
	}
	err = c.ProcessTask(ctx, callbackTaskTo(t, "http://exa mple.com/\x7f", "SHOP1-00001"))
	if !errors.Is(err, asynq.SkipRetry) || !strings.HasPrefix(err.Error(), "callback request: ") {
		t.Fatalf("bad URL: %v", err)
	}
	if rc.count() != 0 {
		t.Fatalf("receiver got %d requests", rc.count())
	}
}

func TestCallbackRefusesPrivateAddresses(t *testing.T) {
	rc := newReceiver(t, 200) // on 127.0.0.1
	err := callbacks(false).ProcessTask(context.Background(), callbackTaskTo(t, rc.URL, "SHOP1-00001"))
	if err == nil || !strings.Contains(err.Error(), "status callback: 127.0.0.1 is not a public address (SMSFLEET_CALLBACK_ALLOW_PRIVATE allows it)") {
		t.Fatalf("got %v, want the SSRF guard's refusal", err)
	}
	if errors.Is(err, asynq.SkipRetry) {
		t.Fatal("a refused dial is retried like any network error")
	}
	// A name that resolves inward is refused too: the check is on the
	// dialled address.
	port := rc.URL[strings.LastIndexByte(rc.URL, ':'):]
	err = callbacks(false).ProcessTask(context.Background(), callbackTaskTo(t, "http://localhost"+port, "SHOP1-00001"))
	if err == nil || !strings.Contains(err.Error(), "is not a public address") {
		t.Fatalf("localhost: got %v", err)
	}
	if rc.count() != 0 {
		t.Fatalf("receiver got %d requests", rc.count())
	}
	// Allowed explicitly, the same URL is reached.
	if err := callbacks(true).ProcessTask(context.Background(), callbackTaskTo(t, rc.URL, "SHOP1-00001")); err != nil || rc.count() != 1 {
		t.Fatalf("allowed: %v, %d requests", err, rc.count())
	}
}

func TestCallbackDoesNotFollowRedirects(t *testing.T) {
	target := newReceiver(t, 200)
	redirect := httptest.NewServer(http.RedirectHandler(target.URL+"/inside", http.StatusTemporaryRedirect))
	defer redirect.Close()
	err := callbacks(true).ProcessTask(context.Background(), callbackTaskTo(t, redirect.URL, "SHOP1-00001"))
	if err == nil || err.Error() != "callback POST: HTTP 307" {
		t.Fatalf("got %v, want the redirect as a failed answer", err)
	}
	if target.count() != 0 {
		t.Fatalf("the redirect was followed: %d requests", target.count())
	}
}

func TestPublic(t *testing.T) {
	for addr, want := range map[string]bool{
		"8.8.8.8": true, "1.1.1.1": true, "2001:4860:4860::8888": true, "::ffff:8.8.8.8": true,
		"127.0.0.1": false, "::1": false, "10.1.2.3": false, "172.16.0.1": false, "192.168.1.1": false,
		"169.254.169.254": false, "fe80::1": false, "100.64.0.1": false, "100.127.255.254": false, "fc00::1": false, "fd12::1": false,
		"0.0.0.0": false, "::": false, "224.0.0.1": false, "255.255.255.255": false, "::ffff:127.0.0.1": false, "::ffff:10.0.0.1": false,
	} {
		if got := public(netip.MustParseAddr(addr).Unmap()); got != want {
			t.Errorf("public(%s) = %v, want %v", addr, got, want)
		}
		err := refusePrivate("tcp", netip.AddrPortFrom(netip.MustParseAddr(addr), 443).String(), nil)
		if (err == nil) != want {
			t.Errorf("refusePrivate(%s) = %v", addr, err)
		}
	}
	if err := refusePrivate("tcp", "not an address", nil); err == nil {
		t.Error("refusePrivate accepted an unparsable address")
	}
}
