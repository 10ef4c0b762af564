package simulator_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/smsfleet/smsfleet/internal/provider"
	"github.com/smsfleet/smsfleet/internal/simulator"
)

func start(t *testing.T, name string) (*simulator.Simulator, string) {
	t.Helper()
	sim := simulator.New(name, 0)
	srv := httptest.NewServer(sim.Handler())
	t.Cleanup(srv.Close)
	return sim, srv.URL
}

func TestSimulatorOutcomesAndIdempotency(t *testing.T) {
	sim, url := start(t, "sim")
	client := provider.NewSimulator("sim", url+"/simulator", nil)
	ctx := context.Background()

	tests := []struct {
		name    string
		req     provider.Request
		class   provider.Class
		wantErr bool
	}{
		{"accepted", provider.Request{ID: "m.1", To: "+4915112000002", From: "Shop", Text: "a"}, 0, false},
		{"0001 is rejected permanently", provider.Request{ID: "m.2", To: "+4915112340001", From: "Shop", Text: "b"}, provider.Permanent, true},
		{"0004 fails once", provider.Request{ID: "m.3", To: "+4915112340004", From: "Shop", Text: "c"}, provider.Transient, true},
		{"0004 then succeeds", provider.Request{ID: "m.3", To: "+4915112340004", From: "Shop", Text: "c"}, 0, false},
		{"a retried id is the same SMS", provider.Request{ID: "m.1", To: "+4915112000002", From: "Shop", Text: "a"}, 0, false},
	}
	refs := map[string]string{}
	for _, tt := range tests {
		res, err := client.Send(ctx, tt.req)
		if (err != nil) != tt.wantErr {
			t.Fatalf("%s: err %v", tt.name, err)
		}
		if err != nil {
			if provider.ClassOf(err) != tt.class || provider.IsAmbiguous(err) {
				t.Fatalf("%s: class %s (ambiguous %v), want %s, clean (%v)", tt.name, provider.ClassOf(err), provider.IsAmbiguous(err), tt.class, err)
			}
			continue
		}
		if !strings.HasPrefix(res.Ref, "SM") || len(res.Ref) != 34 || res.Provider != "sim" {
			t.Fatalf("%s: result %+v, want provider sim and an SM sid", tt.name, res)
		}
		if prev, ok := refs[tt.req.ID]; ok && prev != res.Ref {
			t.Fatalf("%s: ref %s, first ref %s", tt.name, res.Ref, prev)
		}
		refs[tt.req.ID] = res.Ref
	}
	if sim.Count() != 2 || sim.CountBy("sim") != 2 {
		t.Fatalf("simulator recorded %d SMS (%d by sim), want 2", sim.Count(), sim.CountBy("sim"))
	}

	var list struct{ Messages []simulator.Received }
	getJSON(t, url+"/simulator/messages?to=%2B4915112340004&limit=5", http.StatusOK, &list)
	if len(list.Messages) != 1 || list.Messages[0].Text != "c" || list.Messages[0].Provider != "sim" || list.Messages[0].ID != "m.3" ||
		list.Messages[0].Ref != refs["m.3"] || time.Since(list.Messages[0].ReceivedAt) > time.Minute {
		t.Fatalf("filtered list %+v", list.Messages)
	}
	if all := sim.Messages("", 10); all[0].ID != "m.3" {
		t.Fatalf("not newest first: %+v", all)
	}
	getJSON(t, url+"/simulator/messages?limit=zero", http.StatusBadRequest, nil)
}

// TestListingFiltersAndPrecision sends through two providers and lists by
// provider, number and limit.
func TestListingFiltersAndPrecision(t *testing.T) {
	sim, url := start(t, "sim")
	a := provider.NewSimulator("alpha", url+"/simulator", nil)
	b := provider.NewSimulator("beta", url+"/simulator", nil)
	for i, p := range []provider.Provider{a, b, a, b, a} {
		to := fmt.Sprintf("+44791112%04d", 10+i%2)
		if _, err := p.Send(context.Background(), provider.Request{ID: fmt.Sprint("id", i), To: to, From: "X", Text: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		query     string
		wantTexts string
	}{
		{"", "4,3,2,1,0"},
		{"?provider=alpha", "4,2,0"},
		{"?provider=beta", "3,1"},
		{"?provider=alpha&to=%2B447911120010", "4,2,0"},
		{"?provider=beta&to=%2B447911120010", ""},
		{"?to=%2B447911120011", "3,1"},
		{"?limit=2", "4,3"},
		{"?provider=gamma", ""},
	}
	for _, tt := range tests {
		var list struct {
			Messages []map[string]any
		}
		getJSON(t, url+"/simulator/messages"+tt.query, http.StatusOK, &list)
		var texts []string
		for _, m := range list.Messages {
			texts = append(texts, m["text"].(string))
			at := m["received_at"].(string)
			if _, err := time.Parse(time.RFC3339Nano, at); err != nil {
				t.Fatalf("received_at %q: %v", at, err)
			}
		}
		if got := strings.Join(texts, ","); got != tt.wantTexts {
			t.Errorf("messages%s: %q, want %q", tt.query, got, tt.wantTexts)
		}
	}
	// Sub-millisecond precision: not every one of five stamps falls on a
	// whole millisecond (each does with chance 1e-6).
	subMS := false
	var list struct{ Messages []simulator.Received }
	getJSON(t, url+"/simulator/messages", http.StatusOK, &list)
	for _, m := range list.Messages {
		subMS = subMS || m.ReceivedAt.Nanosecond()%int(time.Millisecond) != 0
	}
	if !subMS {
		t.Fatalf("received_at lost sub-millisecond precision: %+v", list.Messages)
	}
	if sim.CountBy("alpha") != 3 || sim.CountBy("beta") != 2 || sim.CountBy("gamma") != 0 || len(sim.MessagesBy("alpha", "", 2)) != 2 {
		t.Fatalf("counts alpha %d beta %d", sim.CountBy("alpha"), sim.CountBy("beta"))
	}
}

func TestFaultsValidation(t *testing.T) {
	_, url := start(t, "sim")
	tests := []struct {
		body       string
		wantStatus int
		wantErr    string
	}{
		{`{"down":true,"error_rate":0.5,"throttle_rate":0.25,"latency_ms":10}`, http.StatusOK, ""},
		{`{}`, http.StatusOK, ""},
		{`{"error_rate":1,"throttle_rate":0,"latency_ms":60000}`, http.StatusOK, ""},
		{`{"error_rate":1.5}`, http.StatusBadRequest, "error_rate must be between 0 and 1"},
		{`{"error_rate":-0.1}`, http.StatusBadRequest, "error_rate must be between 0 and 1"},
		{`{"throttle_rate":2}`, http.StatusBadRequest, "throttle_rate must be between 0 and 1"},
		{`{"latency_ms":-1}`, http.StatusBadRequest, "latency_ms must be between 0 and 60000"},
		{`{"latency_ms":60001}`, http.StatusBadRequest, "latency_ms must be between 0 and 60000"},
		{`{"undelivered_rate":1.01}`, http.StatusBadRequest, "undelivered_rate must be between 0 and 1"},
		{`{"undelivered_rate":-1}`, http.StatusBadRequest, "undelivered_rate must be between 0 and 1"},
		{`{"receipt_delay_ms":-1}`, http.StatusBadRequest, "receipt_delay_ms must be between 0 and 3600000"},
		{`{"receipt_delay_ms":3600001}`, http.StatusBadRequest, "receipt_delay_ms must be between 0 and 3600000"},
		{`{"error-rate":0.5}`, http.StatusBadRequest, `unknown field`},
		{`{"down":"yes"}`, http.StatusBadRequest, "faults:"},
		{`not json`, http.StatusBadRequest, "faults:"},
	}
	for _, tt := range tests {
		resp, err := http.Post(url+"/simulator/p1/faults", "application/json", strings.NewReader(tt.body))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.wantStatus || !strings.Contains(string(body), tt.wantErr) {
			t.Errorf("POST faults %s: HTTP %d %s, want %d containing %q", tt.body, resp.StatusCode, body, tt.wantStatus, tt.wantErr)
		}
	}
	// The last accepted body replaced everything before it; the rejected
	// ones changed nothing.
	var f simulator.Faults
	getJSON(t, url+"/simulator/p1/faults", http.StatusOK, &f)
	if f != (simulator.Faults{ErrorRate: 1, LatencyMS: 60000}) {
		t.Fatalf("faults %+v", f)
	}
	// A body that leaves fields out resets them.
	postJSON(t, url+"/simulator/p1/faults", `{"down":true}`)
	getJSON(t, url+"/simulator/p1/faults", http.StatusOK, &f)
	if f != (simulator.Faults{Down: true}) {
		t.Fatalf("faults after a partial body %+v, want only down", f)
	}
	getJSON(t, url+"/simulator/bad%20name/faults", http.StatusNotFound, nil)
}

// TestFaultRates sends 1000 SMS at each rate and expects the share of
// failures near it (0.3 → 300 ± 70: over seven standard deviations, so the
// test does not flake) and of the right class.
func TestFaultRates(t *testing.T) {
	tests := []struct {
		faults    string
		wantClass provider.Class
		rate      float64
	}{
		{`{"error_rate":0.3}`, provider.Transient, 0.3},
		{`{"throttle_rate":0.3}`, provider.Throttled, 0.3},
		{`{"error_rate":1}`, provider.Transient, 1},
		{`{"error_rate":0}`, provider.Transient, 0},
	}
	for _, tt := range tests {
		t.Run(tt.faults, func(t *testing.T) {
			sim, url := start(t, "sim")
			postJSON(t, url+"/simulator/p/faults", tt.faults)
			client := provider.NewSimulator("p", url+"/simulator", nil)
			const n = 1000
			failed := 0
			for i := range n {
				_, err := client.Send(context.Background(), provider.Request{ID: fmt.Sprint(i), To: "+447911123456", From: "X", Text: "t"})
				if err == nil {
					continue
				}
				failed++
				if provider.ClassOf(err) != tt.wantClass || provider.IsAmbiguous(err) {
					t.Fatalf("send %d: %v (class %s, ambiguous %v), want %s, clean", i, err, provider.ClassOf(err), provider.IsAmbiguous(err), tt.wantClass)
				}
			}
			want := tt.rate * n
			if float64(failed) < want-70 || float64(failed) > want+70 {
				t.Fatalf("%d of %d failed, want about %.0f", failed, n, want)
			}
			if sim.CountBy("p") != n-failed {
				t.Fatalf("accepted %d, want %d (a failed send must record nothing)", sim.CountBy("p"), n-failed)
			}
		})
	}
}

// TestProvidersAreIsolated: faults, idempotency keys and counts are per
// provider name.
func TestProvidersAreIsolated(t *testing.T) {
	sim, url := start(t, "sim")
	postJSON(t, url+"/simulator/down/faults", `{"down":true}`)
	up := provider.NewSimulator("up", url+"/simulator", nil)
	down := provider.NewSimulator("down", url+"/simulator", nil)
	req := provider.Request{ID: "same-key", To: "+447911123456", From: "X", Text: "t"}
	if _, err := down.Send(context.Background(), req); provider.ClassOf(err) != provider.Transient || provider.IsAmbiguous(err) {
		t.Fatalf("down provider: %v", err)
	}
	r1, err := up.Send(context.Background(), req)
	if err != nil {
		t.Fatalf("up provider is affected by another's faults: %v", err)
	}
	// The same key on another provider is another SMS there (a failover
	// after an ambiguous failure really would be a second SMS).
	postJSON(t, url+"/simulator/down/faults", `{}`)
	r2, err := down.Send(context.Background(), req)
	if err != nil || r2.Ref == r1.Ref {
		t.Fatalf("same key on the other provider: %+v %v, first %s", r2, err, r1.Ref)
	}
	if sim.CountBy("up") != 1 || sim.CountBy("down") != 1 || sim.Count() != 2 {
		t.Fatalf("counts up %d down %d all %d", sim.CountBy("up"), sim.CountBy("down"), sim.Count())
	}
	var f simulator.Faults
	getJSON(t, url+"/simulator/up/faults", http.StatusOK, &f)
	if f != (simulator.Faults{}) {
		t.Fatalf("up's faults %+v", f)
	}
}

// TestTwilioWire checks the raw protocol: auth, the answer's shape, a
// replayed key, the status callback kept, and the cap dropping the oldest.
func TestTwilioWire(t *testing.T) {
	sim := simulator.New("sim", 2)
	srv := httptest.NewServer(sim.Handler())
	defer srv.Close()
	post := newTwilioPost(t, srv.URL)
	const form = "To=%2B447911123456&From=Shop&Body=hi&StatusCallback=https%3A%2F%2Fcb.example%2Fr"
	checkTwilioAuthRefused(t, post, form)
	first := checkTwilioCreatedAndReplayed(t, sim, post, form)
	if status, out, _ := post("AC1", "AC1", "tok", "", "From=Shop&Body=x"); status != 400 || out["code"] != float64(21604) {
		t.Fatalf("no To: HTTP %d %v", status, out)
	}
	if status, out, _ := post("AC1", "AC1", "tok", "", "To=%2B447911123456&MessagingServiceSid=MG1&Body=x"); status != 201 || out["status"] != "accepted" || out["messaging_service_sid"] != "MG1" {
		t.Fatalf("messaging service: HTTP %d %v", status, out)
	}
	// Over the cap of 2 the oldest (k1) goes, and with it its key.
	post("AC1", "AC1", "tok", "k3", form)
	if sim.Count() != 2 || sim.CountBy("tw") != 2 {
		t.Fatalf("cap: %d held (%d by tw)", sim.Count(), sim.CountBy("tw"))
	}
	if _, out, _ := post("AC1", "AC1", "tok", "k1", form); out["sid"] == first["sid"] {
		t.Fatal("a dropped SMS's key still replays")
	}
}

// twilioPost posts form to the simulator's Twilio Messages resource of
// account sid, with basic auth user:pass (none if both are empty) and an
// Idempotency-Key (none if empty); it returns the HTTP status, the
// decoded body and the headers.
type twilioPost func(sid, user, pass, key, form string) (int, map[string]any, http.Header)

// newTwilioPost is a twilioPost on the simulator at url.
func newTwilioPost(t *testing.T, url string) twilioPost {
	return func(sid, user, pass, key, form string) (int, map[string]any, http.Header) {
		req, _ := http.NewRequest(http.MethodPost, url+"/simulator/tw/2010-04-01/Accounts/"+sid+"/Messages.json", strings.NewReader(form))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if user != "" || pass != "" {
			req.SetBasicAuth(user, pass)
		}
		if key != "" {
			req.Header.Set("Idempotency-Key", key)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		return resp.StatusCode, out, resp.Header
	}
}

// checkTwilioAuthRefused checks that a send without the right basic
// auth is a 401 with Twilio's code 20003.
func checkTwilioAuthRefused(t *testing.T, post twilioPost, form string) {
	t.Helper()
	tests := []struct {
		name, sid, user, pass string
		wantStatus            int
		wantCode              float64
	}{
		{"no auth", "AC1", "", "", 401, 20003},
		{"sid differs from the user", "AC1", "AC2", "tok", 401, 20003},
		{"empty token", "AC1", "AC1", "", 401, 20003},
	}
	for _, tt := range tests {
		status, out, _ := post(tt.sid, tt.user, tt.pass, "", form)
		if status != tt.wantStatus || out["code"] != tt.wantCode || out["status"] != float64(tt.wantStatus) {
			t.Errorf("%s: HTTP %d %v", tt.name, status, out)
		}
	}
}

// checkTwilioCreatedAndReplayed checks that a send with key k1 is
// created queued with the form's fields, that sending it again replays
// it, and that the simulator recorded it once; it returns the created
// message.
func checkTwilioCreatedAndReplayed(t *testing.T, sim *simulator.Simulator, post twilioPost, form string) map[string]any {
	t.Helper()
	status, first, _ := post("AC1", "AC1", "tok", "k1", form)
	if status != 201 || first["status"] != "queued" || first["to"] != "+447911123456" || first["from"] != "Shop" || first["body"] != "hi" || first["account_sid"] != "AC1" {
		t.Fatalf("created: HTTP %d %v", status, first)
	}
	status, again, h := post("AC1", "AC1", "tok", "k1", form)
	if status != 201 || again["sid"] != first["sid"] || h.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("replay: HTTP %d %v %v", status, again, h)
	}
	if got := sim.Messages("", 10); len(got) != 1 || got[0].StatusCallback != "https://cb.example/r" || got[0].ID != "k1" || got[0].Account != "AC1" {
		t.Fatalf("recorded %+v", got)
	}
	return first
}

// TestLatencyHonoursCancellation: a slow provider answers late, a client
// that gives up is not kept waiting, and the SMS it sent was accepted (the
// ambiguity a timeout hides).
func TestLatencyHonoursCancellation(t *testing.T) {
	sim, url := start(t, "sim")
	postJSON(t, url+"/simulator/slow/faults", `{"latency_ms":150}`)
	client := provider.NewSimulator("slow", url+"/simulator", nil)
	began := time.Now()
	if _, err := client.Send(context.Background(), provider.Request{ID: "a", To: "+447911123456", From: "X", Text: "t"}); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(began); d < 150*time.Millisecond {
		t.Fatalf("answered after %v, want at least 150ms", d)
	}
	postJSON(t, url+"/simulator/slow/faults", `{"latency_ms":60000}`)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	began = time.Now()
	_, err := client.Send(ctx, provider.Request{ID: "b", To: "+447911123456", From: "X", Text: "t"})
	if err == nil || !provider.IsAmbiguous(err) || time.Since(began) > 5*time.Second {
		t.Fatalf("timed-out send: %v after %v, want ambiguous at once", err, time.Since(began))
	}
	if sim.CountBy("slow") != 2 {
		t.Fatalf("accepted %d, want 2: the timed-out SMS was accepted before the wait", sim.CountBy("slow"))
	}
}

// TestProviderErrorClasses: answers of other Twilio-style servers, as the
// simulator client sees them.
func TestProviderErrorClasses(t *testing.T) {
	tests := []struct {
		status int
		body   string
		want   provider.Class
	}{
		{http.StatusTooManyRequests, `{"message":"slow down"}`, provider.Throttled},
		{http.StatusInternalServerError, ``, provider.Transient},
		{http.StatusBadGateway, `not json`, provider.Transient},
		{http.StatusBadRequest, `{"message":"bad number","code":21211}`, provider.Permanent},
		{http.StatusUnauthorized, `{}`, provider.Transient}, // bad credentials: the provider's problem, fail over
		{http.StatusCreated, `{}`, provider.Transient},      // accepted without a sid: cannot be tracked, retry
	}
	for _, tt := range tests {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(tt.status)
			_, _ = w.Write([]byte(tt.body))
		}))
		_, err := provider.NewSimulator("p", srv.URL, nil).Send(context.Background(), provider.Request{ID: "x", To: "+4915112000002"})
		srv.Close()
		if err == nil || provider.ClassOf(err) != tt.want {
			t.Errorf("HTTP %d %s: %v (class %v), want %s", tt.status, tt.body, err, provider.ClassOf(err), tt.want)
		}
	}
	// A dead endpoint is transient too.
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	if _, err := provider.NewSimulator("p", url, nil).Send(context.Background(), provider.Request{ID: "x", To: "+1"}); provider.ClassOf(err) != provider.Transient {
		t.Errorf("connection refused: %v", err)
	}
}

func getJSON(t *testing.T, url string, wantStatus int, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != wantStatus {
		t.Fatalf("GET %s: HTTP %d %s, want %d", url, resp.StatusCode, body, wantStatus)
	}
	if v != nil {
		if err := json.Unmarshal(body, v); err != nil {
			t.Fatalf("GET %s: %v in %s", url, err, body)
		}
	}
}

func postJSON(t *testing.T, url, body string) {
	t.Helper()
	resp, err := http.Post(url, "application/json", bytes.NewBufferString(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("POST %s %s: HTTP %d %s", url, body, resp.StatusCode, b)
	}
}
