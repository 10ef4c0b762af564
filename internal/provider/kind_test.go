package provider_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smsfleet/smsfleet/internal/provider"
	"github.com/smsfleet/smsfleet/internal/signature"
	"github.com/smsfleet/smsfleet/internal/simulator"
	"github.com/smsfleet/smsfleet/internal/sms"
)

// webhookServer serves the kinds' webhooks the way the receipts ingress
// and the inbound webhook do: the source named in the path, its kind's
// parser. Parsed receipts and replies are sent on the channels.
func webhookServer(t *testing.T, cfgs ...provider.Config) (*httptest.Server, chan sms.Receipt, chan provider.Reply) {
	t.Helper()
	sources := map[string]provider.Source{}
	receipts, replies := make(chan sms.Receipt, 10), make(chan provider.Reply, 10)
	refuse := func(w http.ResponseWriter, err error) {
		status := http.StatusBadRequest
		var we *provider.WebhookError
		if errors.As(err, &we) {
			status = we.Status
		}
		http.Error(w, err.Error(), status)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /dlr/{provider}", func(w http.ResponseWriter, r *http.Request) {
		src, hooks, body, ok := provider.ReadWebhook(w, r, sources)
		if !ok {
			return
		}
		rec, _, err := hooks.ParseReceipt(src, r, body, time.Now())
		if err != nil {
			refuse(w, err)
			return
		}
		receipts <- rec
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /inbound/{provider}", func(w http.ResponseWriter, r *http.Request) {
		src, hooks, body, ok := provider.ReadWebhook(w, r, sources)
		if !ok {
			return
		}
		rep, _, err := hooks.ParseReply(src, r, body, time.Now())
		if err != nil {
			refuse(w, err)
			return
		}
		replies <- rep
		hooks.AnswerReply(w)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	// Twilio-style signatures are checked over the public URL.
	for _, c := range cfgs {
		if src, ok := provider.SourceOf(c); ok {
			src.PublicURL = srv.URL
			sources[c.Name] = src
		}
	}
	return srv, receipts, replies
}

// signedForm is a Twilio-style webhook: form fields signed with
// X-Twilio-Signature under token.
func signedForm(u string, fields url.Values, token string) *http.Request {
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(fields.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Twilio-Signature", provider.TwilioSignature(token, u, fields))
	return req
}

// signedJSON is a JSON webhook signed the Standard Webhooks way under
// secret, with a fresh id.
func signedJSON(u, body, secret string) *http.Request {
	return signedStandard(u, "application/json", body, secret)
}

var webhookSeq atomic.Int64

// signedStandard is a webhook of content type ct signed the Standard
// Webhooks way under secret, now, with a fresh id.
func signedStandard(u, ct, body, secret string) *http.Request {
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(body))
	req.Header.Set("Content-Type", ct)
	id := fmt.Sprintf("msg_%d", webhookSeq.Add(1))
	if err := signature.SetStandard(req.Header, secret, id, time.Now(), []byte(body)); err != nil {
		panic(err)
	}
	return req
}

func do(t *testing.T, req *http.Request) (int, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestRegistry checks every kind through the registry alone, as the
// fleet, the config and the webhooks use it: it is registered, rejects a
// configuration missing what it needs with the field named, builds its
// client without starting anything, and, where it takes webhooks, parses
// a signed receipt and reply and refuses a bad signature.
func TestRegistry(t *testing.T) {
	t.Setenv("KT_TW_TOKEN", "tw-token")
	t.Setenv("KT_GW_SECRET", "gw-secret")
	t.Setenv("KT_SIM_SECRET", "sim-secret")
	const (
		token  = "tw-token"
		secret = "gw-secret"
	)
	if got, want := provider.KindNames(), []provider.KindName{provider.KindJSON, provider.KindSimulator, provider.KindSMPP, provider.KindTwilio}; !slices.Equal(got, want) {
		t.Fatalf("registered kinds %v, want %v", got, want)
	}

	// A receipt and a reply a kind's provider would post, signed with
	// the key given (the right one, or another).
	twilioReceipt := func(u, key string) *http.Request {
		return signedForm(u, url.Values{"MessageSid": {"SM1"}, "MessageStatus": {"undelivered"}, "ErrorCode": {"30003"}}, key)
	}
	twilioReply := func(u, key string) *http.Request {
		return signedForm(u, url.Values{"MessageSid": {"SMin1"}, "From": {"+4915112000001"}, "To": {"SHOP"}, "Body": {"STOP"}}, key)
	}
	simReceipt := func(u, key string) *http.Request {
		f := url.Values{"MessageSid": {"SM1"}, "MessageStatus": {"undelivered"}, "ErrorCode": {"30003"}}
		return signedStandard(u, "application/x-www-form-urlencoded", f.Encode(), key)
	}
	jsonReceipt := func(u, key string) *http.Request {
		return signedJSON(u, `{"ref":"SM1","status":"UNDELIV","error_code":"30003"}`, key)
	}
	jsonReply := func(u, key string) *http.Request {
		return signedJSON(u, `{"from":"+4915112000001","to":"SHOP","text":"STOP"}`, key)
	}

	for _, tc := range []registryCase{
		{
			good: provider.Config{Name: "tw", Kind: provider.KindTwilio, URL: "https://api.example", AccountSID: "AC1", AuthTokenEnv: "KT_TW_TOKEN"},
			bad: map[string]provider.Config{
				"url":             {Name: "tw", Kind: provider.KindTwilio, AccountSID: "AC1", AuthTokenEnv: "KT_TW_TOKEN"},
				"account_sid":     {Name: "tw", Kind: provider.KindTwilio, URL: "https://api.example", AuthTokenEnv: "KT_TW_TOKEN"},
				"auth_token_env":  {Name: "tw", Kind: provider.KindTwilio, URL: "https://api.example", AccountSID: "AC1", AuthTokenEnv: "KT_UNSET"},
				"auth_token_env ": {Name: "tw", Kind: provider.KindTwilio, URL: "https://api.example", AccountSID: "AC1"},
			},
			key: token, receipt: twilioReceipt, reply: twilioReply, replyStatus: http.StatusOK,
		},
		{
			good: provider.Config{Name: "gw", Kind: provider.KindJSON, URL: "https://gw.example/send", DLRSecretEnv: "KT_GW_SECRET"},
			bad: map[string]provider.Config{
				"url":            {Name: "gw", Kind: provider.KindJSON, DLRSecretEnv: "KT_GW_SECRET"},
				"dlr_secret_env": {Name: "gw", Kind: provider.KindJSON, URL: "https://gw.example/send"},
				// A named but unset variable is no secret either.
				"dlr_secret_env ": {Name: "gw", Kind: provider.KindJSON, URL: "https://gw.example/send", DLRSecretEnv: "KT_UNSET"},
			},
			key:     secret,
			receipt: jsonReceipt, reply: jsonReply, replyStatus: http.StatusNoContent,
		},
		{
			// Only the secret is required: an empty url is the in-process
			// simulator. There is no built-in default key (issue 13 item 6).
			good: provider.Config{Name: "sim", Kind: provider.KindSimulator, DLRSecretEnv: "KT_SIM_SECRET"},
			bad: map[string]provider.Config{
				"dlr_secret_env":            {Name: "sim", Kind: provider.KindSimulator},
				"SMSFLEET_SIMULATOR_SECRET": {Name: "sim", Kind: provider.KindSimulator, DLRSecretEnv: "KT_UNSET"},
			},
			key: "sim-secret", receipt: simReceipt, reply: jsonReply, replyStatus: http.StatusNoContent,
		},
		{
			good: provider.Config{Name: "smsc", Kind: provider.KindSMPP, Addr: "127.0.0.1:1", SystemID: "fleet"},
			bad: map[string]provider.Config{
				"addr":      {Name: "smsc", Kind: provider.KindSMPP, SystemID: "fleet"},
				"system_id": {Name: "smsc", Kind: provider.KindSMPP, Addr: "127.0.0.1:1"},
			},
		},
	} {
		t.Run(string(tc.good.Kind), func(t *testing.T) {
			k := checkKindBuilds(t, tc)
			checkKindWebhooks(t, k, tc)
		})
	}

	t.Run("name and kind", testUnknownNameAndKind)
}

// registryCase is one kind in TestRegistry.
type registryCase struct {
	good provider.Config
	// bad are configurations missing something, with the field their
	// error must name.
	bad map[string]provider.Config
	// key signs the kind's webhooks; receipt and reply make them (nil:
	// the kind takes no webhooks).
	key            string
	receipt, reply func(u, key string) *http.Request
	replyStatus    int
}

// checkKindBuilds checks that tc's kind is registered, accepts the good
// configuration and refuses each bad one naming the field, and builds its
// client.
func checkKindBuilds(t *testing.T, tc registryCase) provider.Kind {
	t.Helper()
	k, ok := provider.KindOf(tc.good.Kind)
	if !ok || k.Name() != tc.good.Kind {
		t.Fatalf("kind %s not registered", tc.good.Kind)
	}
	if err := tc.good.Validate(); err != nil {
		t.Fatalf("good config refused: %v", err)
	}
	for field, c := range tc.bad {
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), strings.TrimSpace(field)) || !strings.Contains(err.Error(), c.Name) {
			t.Errorf("without %s: error %v, want one naming the field and the provider", field, err)
		}
	}
	p, err := provider.New(tc.good, provider.Deps{SimulatorURL: "http://127.0.0.1:1/simulator"})
	if err != nil || p.Name() != tc.good.Name {
		t.Fatalf("New: %v, %v", p, err)
	}
	return k
}

// checkKindWebhooks checks that tc's kind has webhooks exactly when it
// should, and that they take a signed receipt and reply and refuse a bad
// signature.
func checkKindWebhooks(t *testing.T, k provider.Kind, tc registryCase) {
	t.Helper()
	src, hasHooks := provider.SourceOf(tc.good)
	if hasHooks != (tc.receipt != nil) || (k.Webhooks() != nil) != hasHooks {
		t.Fatalf("webhooks: source %v, Webhooks() %v, want %v", hasHooks, k.Webhooks(), tc.receipt != nil)
	}
	if !hasHooks {
		return
	}
	if src.Secret != tc.key {
		t.Fatalf("source secret %q, want %q", src.Secret, tc.key)
	}
	srv, receipts, replies := webhookServer(t, tc.good)
	dlr, in := srv.URL+"/dlr/"+tc.good.Name, srv.URL+"/inbound/"+tc.good.Name
	if code, body := do(t, tc.receipt(dlr, tc.key)); code != http.StatusNoContent {
		t.Fatalf("signed receipt: HTTP %d %s", code, body)
	}
	want := sms.Receipt{Provider: tc.good.Name, Ref: "SM1", Status: sms.Undelivered, ErrorCode: "30003"}
	if got := <-receipts; got.At.IsZero() || (got != sms.Receipt{Provider: want.Provider, Ref: want.Ref, Status: want.Status, ErrorCode: want.ErrorCode, At: got.At}) {
		t.Fatalf("receipt %+v, want %+v", got, want)
	}
	if code, _ := do(t, tc.receipt(dlr, "another-key")); code != http.StatusUnauthorized {
		t.Fatalf("receipt with a bad signature: HTTP %d, want 401", code)
	}
	if code, body := do(t, tc.reply(in, tc.key)); code != tc.replyStatus {
		t.Fatalf("signed reply: HTTP %d %s, want %d", code, body, tc.replyStatus)
	}
	if got := <-replies; got != (provider.Reply{From: "+4915112000001", To: "SHOP", Text: "STOP"}) {
		t.Fatalf("reply %+v", got)
	}
	if code, _ := do(t, tc.reply(in, "another-key")); code != http.StatusUnauthorized {
		t.Fatalf("reply with a bad signature: HTTP %d, want 401", code)
	}
}

// testUnknownNameAndKind checks that a bad name or an unknown kind is
// refused, built by nothing, and has no webhook source.
func testUnknownNameAndKind(t *testing.T) {
	for _, tc := range []struct {
		c    provider.Config
		want string
	}{
		{provider.Config{Name: "X_Y", Kind: provider.KindSimulator}, "names are"},
		{provider.Config{Name: "x", Kind: "carrier-pigeon"}, `kind must be json, simulator, smpp or twilio, got "carrier-pigeon"`},
	} {
		if err := tc.c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want %q", tc.c, err, tc.want)
		}
	}
	if _, err := provider.New(provider.Config{Name: "x", Kind: "carrier-pigeon"}, provider.Deps{}); err == nil {
		t.Error("New built an unknown kind")
	}
	if _, ok := provider.SourceOf(provider.Config{Name: "x", Kind: "carrier-pigeon"}); ok {
		t.Error("an unknown kind has a webhook source")
	}
}

// TestKindClients sends through the client each kind builds from its
// configuration, against a real HTTP server (the simulator for the
// simulator kind), with the fleet's Deps applied.
func TestKindClients(t *testing.T) {
	t.Setenv("KT_TW_TOKEN", "tw-token")
	t.Setenv("KT_GW_KEY", "Bearer gw-key")
	f := &kindClients{got: make(chan *http.Request, 1)}
	f.answer = func(body string) *httptest.Server {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_ = r.ParseForm()
			f.got <- r
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusCreated)
			_, _ = io.WriteString(w, body)
		}))
		t.Cleanup(srv.Close)
		return srv
	}
	sim := httptest.NewServer(simulator.New("sim", 0).Handler())
	t.Cleanup(sim.Close)
	f.deps = provider.Deps{
		SimulatorURL:   sim.URL + "/simulator",
		StatusCallback: func(name string) string { return "https://fleet.example/webhooks/dlr/" + name },
	}
	f.req = provider.Request{ID: "sms-1", To: "+4915112000002", From: "Shop", Text: "hi"}
	f.ctx = context.Background()

	t.Run("twilio", f.twilio)
	t.Run("json", f.json)
	t.Run("simulator", f.simulator)
	t.Run("smpp starts nothing until Run", f.smpp)
}

// kindClients is TestKindClients' fixture: answer starts a server that
// hands each request it gets to got and answers 201 with body; deps are
// the fleet's Deps, req the request every client sends.
type kindClients struct {
	got    chan *http.Request
	answer func(body string) *httptest.Server
	deps   provider.Deps
	req    provider.Request
	ctx    context.Context
}

// twilio sends through a twilio client: basic auth with the account and token, the status callback set, the sid as ref.
func (f *kindClients) twilio(t *testing.T) {
	srv := f.answer(`{"sid":"SM9"}`)
	p, err := provider.New(provider.Config{Name: "tw", Kind: provider.KindTwilio, URL: srv.URL, AccountSID: "AC1", AuthTokenEnv: "KT_TW_TOKEN"}, f.deps)
	if err != nil {
		t.Fatal(err)
	}
	res, err := p.Send(f.ctx, f.req)
	r := <-f.got
	user, pass, _ := r.BasicAuth()
	if err != nil || res.Ref != "SM9" || user != "AC1" || pass != "tw-token" ||
		r.PostForm.Get("StatusCallback") != "https://fleet.example/webhooks/dlr/tw" {
		t.Fatalf("%+v %v; request %s %v", res, err, r.URL, r.PostForm)
	}
}

// json sends through a json client with its auth header and ref field, and refuses a non-HTTP url.
func (f *kindClients) json(t *testing.T) {
	srv := f.answer(`{"data":{"id":"G9"}}`)
	p, err := provider.New(provider.Config{Name: "gw", Kind: provider.KindJSON, URL: srv.URL, AuthValueEnv: "KT_GW_KEY", RefField: "data.id"}, f.deps)
	if err != nil {
		t.Fatal(err)
	}
	res, err := p.Send(f.ctx, f.req)
	if r := <-f.got; err != nil || res.Ref != "G9" || r.Header.Get("Authorization") != "Bearer gw-key" {
		t.Fatalf("%+v %v; auth %q", res, err, r.Header.Get("Authorization"))
	}
	if _, err := provider.New(provider.Config{Name: "gw", Kind: provider.KindJSON, URL: "ftp://x"}, f.deps); err == nil {
		t.Fatal("a json provider with a non-HTTP url built")
	}
}

// simulator sends through the simulator kind, which needs a simulator url.
func (f *kindClients) simulator(t *testing.T) {
	p, err := provider.New(provider.Config{Name: "sim-a", Kind: provider.KindSimulator}, f.deps)
	if err != nil {
		t.Fatal(err)
	}
	if res, err := p.Send(f.ctx, f.req); err != nil || res.Ref == "" || res.Provider != "sim-a" {
		t.Fatalf("%+v %v", res, err)
	}
	if _, err := provider.New(provider.Config{Name: "sim-a", Kind: provider.KindSimulator}, provider.Deps{}); err == nil {
		t.Fatal("a simulator without a url nor a simulator in the process built")
	}
}

// smpp checks that the SMPP client starts nothing until Run: a send before it is transient, not ambiguous.
func (f *kindClients) smpp(t *testing.T) {
	p, err := provider.New(provider.Config{Name: "smsc", Kind: provider.KindSMPP, Addr: "127.0.0.1:1", SystemID: "fleet"}, f.deps)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := p.(provider.Runner); !ok {
		t.Fatal("the SMPP client is not a Runner")
	}
	_, err = p.Send(f.ctx, f.req)
	var pe *provider.Error
	if !errors.As(err, &pe) || pe.Class != provider.Transient || pe.Ambiguous {
		t.Fatalf("send before Run: %v, want transient, not ambiguous (not bound)", err)
	}
	_ = p.(io.Closer).Close()
}

// TestStatusMapping pins each kind's own words: what moves an SMS and
// what is intermediate.
func TestStatusMapping(t *testing.T) {
	for _, tc := range []struct {
		kind string
		m    func(string) sms.Status
		want map[string]sms.Status
	}{
		{"twilio", provider.TwilioStatus, map[string]sms.Status{
			"delivered": sms.Delivered, "undelivered": sms.Undelivered, "failed": sms.Undelivered,
			"queued": "queued", "sent": "sent", "Accepted": "accepted",
		}},
		{"json", provider.JSONStatus, map[string]sms.Status{
			"delivered": sms.Delivered, "DELIVRD": sms.Delivered, "UNDELIV": sms.Undelivered, "failed": sms.Undelivered,
			"expired": sms.Undelivered, "REJECTD": sms.Undelivered, "enroute": "enroute",
		}},
		{"smpp", provider.DLRStatus, map[string]sms.Status{
			"DELIVRD": sms.Delivered, "UNDELIV": sms.Undelivered, "SKIPPED": sms.Undelivered, "ENROUTE": "enroute", "ACCEPTD": "accepted",
		}},
	} {
		for word, want := range tc.want {
			got := tc.m(word)
			if got != want {
				t.Errorf("%s %q: %q, want %q", tc.kind, word, got, want)
			}
			if final := (sms.Receipt{Status: got}).Final(); final != (want == sms.Delivered || want == sms.Undelivered) {
				t.Errorf("%s %q: Final %v", tc.kind, word, final)
			}
		}
	}
}

// TestChartSchemaKnowsEveryKind keeps the Helm chart's schema in step with
// the registry: a kind added here must be accepted there, and only kinds
// that exist.
func TestChartSchemaKnowsEveryKind(t *testing.T) {
	raw, err := os.ReadFile("../../charts/smsfleet/values.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	var enums [][]provider.KindName
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if k, ok := v["kind"].(map[string]any); ok {
				if e, ok := k["enum"].([]any); ok {
					var names []provider.KindName
					for _, n := range e {
						s, _ := n.(string)
						names = append(names, provider.KindName(s))
					}
					slices.Sort(names)
					enums = append(enums, names)
				}
			}
			for _, c := range v {
				walk(c)
			}
		case []any:
			for _, c := range v {
				walk(c)
			}
		}
	}
	var schema any
	if err := json.Unmarshal(raw, &schema); err != nil {
		t.Fatal(err)
	}
	walk(schema)
	if len(enums) != 1 {
		t.Fatalf("%d provider kind enums in the chart schema, want 1", len(enums))
	}
	if !slices.Equal(enums[0], provider.KindNames()) {
		t.Fatalf("chart schema kinds %v, registry %v", enums[0], provider.KindNames())
	}
}
