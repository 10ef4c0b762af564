package provider_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smsfleet/smsfleet/internal/provider"
	"github.com/smsfleet/smsfleet/internal/simulator"
)

const secretToken = "tok-SECRET-do-not-leak"

// TestTwilioAgainstSimulator sends through the real Twilio client to the
// simulator and checks every outcome's class, ambiguity and code.
func TestTwilioAgainstSimulator(t *testing.T) {
	sim := simulator.New("sim", 0)
	srv := httptest.NewServer(sim.Handler())
	defer srv.Close()
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close()

	tests := []struct {
		name   string
		faults string // set on the provider before sending
		cfg    func(*provider.TwilioConfig)
		to     string
		// wantErr false: accepted, and the sid is what the simulator recorded.
		wantErr       bool
		wantClass     provider.Class
		wantAmbiguous bool
		wantCode      string
	}{
		{name: "accepted", to: "+447911123456"},
		{name: "invalid number 0001", to: "+447911120001", wantErr: true, wantClass: provider.Permanent, wantCode: "21211"},
		{name: "test number 0004 fails once", to: "+447911120004", wantErr: true, wantClass: provider.Transient, wantCode: "20503"},
		{name: "provider down", faults: `{"down":true}`, to: "+447911123456", wantErr: true, wantClass: provider.Transient, wantCode: "20503"},
		{name: "server errors", faults: `{"error_rate":1}`, to: "+447911123456", wantErr: true, wantClass: provider.Transient, wantCode: "20500"},
		{name: "throttled", faults: `{"throttle_rate":1}`, to: "+447911123456", wantErr: true, wantClass: provider.Throttled, wantCode: "20429"},
		{name: "bad credentials", cfg: func(c *provider.TwilioConfig) { c.AuthToken = "" }, to: "+447911123456",
			wantErr: true, wantClass: provider.Transient, wantCode: "20003"},
		{name: "slower than the timeout", faults: `{"latency_ms":5000}`, cfg: func(c *provider.TwilioConfig) { c.Timeout = 100 * time.Millisecond },
			to: "+447911123456", wantErr: true, wantClass: provider.Transient, wantAmbiguous: true},
		{name: "connection refused", cfg: func(c *provider.TwilioConfig) { c.BaseURL = deadURL }, to: "+447911123456",
			wantErr: true, wantClass: provider.Transient},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := "p" + string(rune('a'+i)) // a provider per case, so faults do not leak
			if tt.faults != "" {
				setFaults(t, srv.URL, name, tt.faults)
			}
			cfg := provider.TwilioConfig{Name: name, BaseURL: srv.URL + "/simulator/" + name, AccountSID: "ACtest", AuthToken: secretToken}
			if tt.cfg != nil {
				tt.cfg(&cfg)
			}
			res, err := provider.NewTwilio(cfg, nil).Send(context.Background(), provider.Request{ID: "id-" + name, To: tt.to, From: "Shop", Text: "hello"})
			if !tt.wantErr {
				if err != nil {
					t.Fatalf("send: %v", err)
				}
				got := sim.MessagesBy(name, "", 1)
				if len(got) != 1 || res.Ref != got[0].Ref || res.Provider != name || got[0].ID != "id-"+name {
					t.Fatalf("result %+v, simulator has %+v", res, got)
				}
				return
			}
			var pe *provider.Error
			if !errors.As(err, &pe) {
				t.Fatalf("error %v (%T), want *provider.Error", err, err)
			}
			if pe.Class != tt.wantClass || pe.Ambiguous != tt.wantAmbiguous || pe.Code != tt.wantCode || pe.Provider != name {
				t.Fatalf("error %v: class %s ambiguous %v code %q provider %s, want %s %v %q %s",
					err, pe.Class, pe.Ambiguous, pe.Code, pe.Provider, tt.wantClass, tt.wantAmbiguous, tt.wantCode, name)
			}
			if strings.Contains(err.Error(), secretToken) {
				t.Fatalf("the auth token leaked into the error: %v", err)
			}
			if n := sim.CountBy(name); n != 0 && !tt.wantAmbiguous {
				t.Fatalf("a clean failure recorded %d SMS", n)
			}
		})
	}
}

// TestTwilioIdempotencyKey: a retried SMS id gets the first sid and is one
// SMS at the provider, also across a failure and a timeout in between.
func TestTwilioIdempotencyKey(t *testing.T) {
	sim := simulator.New("sim", 0)
	srv := httptest.NewServer(sim.Handler())
	defer srv.Close()
	tw := provider.NewTwilio(provider.TwilioConfig{Name: "tw", BaseURL: srv.URL + "/simulator/tw", AccountSID: "AC1", AuthToken: "t"}, nil)
	req := provider.Request{ID: "sms-1", To: "+447911123456", From: "Shop", Text: "hi"}
	first, err := tw.Send(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	// A timed-out retry (the answer lost) and a clean one.
	setFaults(t, srv.URL, "tw", `{"latency_ms":2000}`)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	_, err = tw.Send(ctx, req)
	cancel()
	if !provider.IsAmbiguous(err) {
		t.Fatalf("timed-out retry: %v, want ambiguous", err)
	}
	setFaults(t, srv.URL, "tw", `{}`)
	again, err := tw.Send(context.Background(), req)
	if err != nil || again.Ref != first.Ref {
		t.Fatalf("retry: %+v %v, first sid %s", again, err, first.Ref)
	}
	other, err := tw.Send(context.Background(), provider.Request{ID: "sms-2", To: req.To, From: req.From, Text: req.Text})
	if err != nil || other.Ref == first.Ref {
		t.Fatalf("another id got %+v %v", other, err)
	}
	if n := sim.CountBy("tw"); n != 2 {
		t.Fatalf("simulator holds %d SMS, want 2", n)
	}
}

// recorded is one request as a server saw it.
type recorded struct {
	method, path, user, pass, key, contentType string
	form                                       url.Values
}

// recorder answers every request with status and body and keeps what came.
func recorder(t *testing.T, status int, body string) (*httptest.Server, func() recorded) {
	var mu sync.Mutex
	var last recorded
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		form, _ := url.ParseQuery(string(raw))
		user, pass, _ := r.BasicAuth()
		mu.Lock()
		last = recorded{r.Method, r.URL.Path, user, pass, r.Header.Get("Idempotency-Key"), r.Header.Get("Content-Type"), form}
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv, func() recorded {
		mu.Lock()
		defer mu.Unlock()
		return last
	}
}

// TestTwilioRequest checks what goes on the wire.
func TestTwilioRequest(t *testing.T) {
	tests := []struct {
		name     string
		cfg      provider.TwilioConfig
		req      provider.Request
		wantForm url.Values
	}{
		{"from given", provider.TwilioConfig{MessagingServiceSID: "MG1"},
			provider.Request{ID: "id1", To: "+447911123456", From: "Shop", Text: "Hi & bye ü"},
			url.Values{"To": {"+447911123456"}, "From": {"Shop"}, "Body": {"Hi & bye ü"}}},
		{"messaging service when from is empty", provider.TwilioConfig{MessagingServiceSID: "MG1", StatusCallback: "https://cb.example/twilio?x=1"},
			provider.Request{ID: "id2", To: "+447911123456", Text: "x"},
			url.Values{"To": {"+447911123456"}, "MessagingServiceSid": {"MG1"}, "Body": {"x"}, "StatusCallback": {"https://cb.example/twilio?x=1"}}},
		{"neither", provider.TwilioConfig{},
			provider.Request{ID: "id3", To: "+447911123456", Text: "x"},
			url.Values{"To": {"+447911123456"}, "Body": {"x"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, last := recorder(t, http.StatusCreated, `{"sid":"SMabc","status":"queued"}`)
			cfg := tt.cfg
			cfg.BaseURL, cfg.AccountSID, cfg.AuthToken = srv.URL+"/base/", "AC/1", secretToken
			res, err := provider.NewTwilio(cfg, nil).Send(context.Background(), tt.req)
			if err != nil || res.Ref != "SMabc" || res.Provider != "twilio" {
				t.Fatalf("send: %+v %v", res, err)
			}
			got := last()
			if got.method != http.MethodPost || got.path != "/base/2010-04-01/Accounts/AC/1/Messages.json" ||
				got.user != "AC/1" || got.pass != secretToken || got.key != tt.req.ID || got.contentType != "application/x-www-form-urlencoded" {
				t.Fatalf("request %+v", got)
			}
			if got.form.Encode() != tt.wantForm.Encode() {
				t.Fatalf("form %v, want %v", got.form, tt.wantForm)
			}
		})
	}
}

// TestTwilioAnswers classifies answers of Twilio and Twilio-style gateways.
func TestTwilioAnswers(t *testing.T) {
	tests := []struct {
		name          string
		status        int
		body          string
		wantClass     provider.Class
		wantAmbiguous bool
		wantCode      string
		wantMessage   string
	}{
		{"invalid number", 400, `{"code":21211,"message":"The 'To' number is not a valid phone number.","status":400}`, provider.Permanent, false, "21211", "not a valid phone number"},
		{"not a mobile", 400, `{"code":21614,"message":"not mobile","status":400}`, provider.Permanent, false, "21614", "not mobile"},
		{"unsubscribed", 400, `{"code":21610,"message":"unsubscribed","status":400}`, provider.Permanent, false, "21610", ""},
		{"region not enabled", 400, `{"code":21408,"message":"region","status":400}`, provider.Permanent, false, "21408", ""},
		{"carrier filtered", 400, `{"code":30007,"message":"filtered","status":400}`, provider.Permanent, false, "30007", ""},
		{"permanent code even on a 5xx", 502, `{"code":30003,"message":"unreachable"}`, provider.Permanent, false, "30003", ""},
		{"throttled by status", 429, `{"code":20429,"message":"Too Many Requests","status":429}`, provider.Throttled, false, "20429", ""},
		{"throttled by code", 400, `{"code":20429,"message":"Too Many Requests","status":400}`, provider.Throttled, false, "20429", ""},
		{"other 4xx by status", 400, `{"code":21602,"message":"Message body is required.","status":400}`, provider.Permanent, false, "21602", "body is required"},
		{"bad credentials", 401, `{"code":20003,"message":"Authenticate","status":401}`, provider.Transient, false, "20003", "Authenticate"},
		{"forbidden", 403, `{"code":20403,"message":"Forbidden"}`, provider.Transient, false, "20403", ""},
		{"server error", 500, `{"code":20500,"message":"Internal Server Error"}`, provider.Transient, false, "20500", ""},
		{"gateway error shape", 503, `{"error":"maintenance","code":"30001"}`, provider.Transient, false, "30001", "maintenance"},
		{"not JSON", 502, `<html>bad gateway</html>`, provider.Transient, false, "", "HTTP 502"},
		{"accepted without a sid", 201, `{"status":"queued"}`, provider.Transient, true, "", "without a message sid"},
		{"accepted with an unreadable body", 200, `{"sid":`, provider.Transient, true, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, _ := recorder(t, tt.status, tt.body)
			_, err := provider.NewTwilio(provider.TwilioConfig{Name: "tw", BaseURL: srv.URL, AccountSID: "AC1", AuthToken: secretToken}, nil).
				Send(context.Background(), provider.Request{ID: "x", To: "+447911123456", From: "Shop", Text: "t"})
			var pe *provider.Error
			if !errors.As(err, &pe) {
				t.Fatalf("error %v, want *provider.Error", err)
			}
			if pe.Class != tt.wantClass || pe.Ambiguous != tt.wantAmbiguous || pe.Code != tt.wantCode || !strings.Contains(err.Error(), tt.wantMessage) {
				t.Fatalf("%v: class %s ambiguous %v code %q, want %s %v %q containing %q", err, pe.Class, pe.Ambiguous, pe.Code, tt.wantClass, tt.wantAmbiguous, tt.wantCode, tt.wantMessage)
			}
		})
	}
}

func TestTwilioKeepsTheTokenOutOfStrings(t *testing.T) {
	cfg := provider.TwilioConfig{Name: "tw", BaseURL: "https://api.example", AccountSID: "AC1", AuthToken: secretToken}
	tw := provider.NewTwilio(cfg, nil)
	for _, s := range []string{cfg.String(), tw.String()} {
		if strings.Contains(s, secretToken) || !strings.Contains(s, "AC1") {
			t.Fatalf("%q", s)
		}
	}
	if tw.Name() != "tw" || provider.NewTwilio(provider.TwilioConfig{}, nil).Name() != "twilio" {
		t.Fatal("names")
	}
}

func setFaults(t *testing.T, base, name, body string) {
	t.Helper()
	resp, err := http.Post(base+"/simulator/"+name+"/faults", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("faults %s: HTTP %d %s", body, resp.StatusCode, b)
	}
}
