package worker

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/smsfleet/smsfleet/internal/config"
	"github.com/smsfleet/smsfleet/internal/provider"
	"github.com/smsfleet/smsfleet/internal/sms"
	"github.com/smsfleet/smsfleet/internal/store"
	"github.com/smsfleet/smsfleet/internal/store/storetest"
	"github.com/smsfleet/smsfleet/internal/testenv"
	"github.com/smsfleet/smsfleet/ratelimit"
	"github.com/smsfleet/smsfleet/worker/route"
)

// The stage tests run on real parts: a redis-server (testenv), a
// store.Store on it whose records are written through its own API,
// providers that are real HTTP servers called through the real Twilio-style
// client, and routes with real gobreaker breakers. The clock is fixed.

const testApp = "SHOP1-00001"

// t0 is the fixed clock of every stage test: the store's and the sender's.
var t0 = time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)

// testPolicy is the resolved policy the stage tests judge and compose by.
func testPolicy() config.Resolved {
	return config.Resolved{SmartEncoding: true, MaxSegments: 10, ConsentTag: "consent", OTPIgnoresOptOut: true}
}

// fixture is one test's Redis, store and sender.
type fixture struct {
	t     *testing.T
	ctx   context.Context
	redis *testenv.Redis
	st    *store.Store
	s     *Sender
	pol   config.Resolved
	// policyApps are the applications Policy was asked about.
	mu         sync.Mutex
	policyApps []string
	codes      int
}

// newFixture starts a redis-server and a store on it, and a Sender over
// providers in route order with the default breakers. MaxAttempts is 3 and
// asynq's retry budget (the retries hook) is 25 with none used.
func newFixture(t *testing.T, providers ...provider.Provider) *fixture {
	return newFixtureBreaker(t, config.Default().Breaker, providers...)
}

func newFixtureBreaker(t *testing.T, br config.Breaker, providers ...provider.Provider) *fixture {
	t.Helper()
	f := &fixture{t: t, ctx: context.Background(), redis: testenv.NewRedis(t), pol: testPolicy()}
	clock := func() time.Time { return t0 }
	f.st = store.New(f.redis.Client(t), 24*time.Hour, store.WithClock(clock))
	if err := f.st.LoadScripts(f.ctx); err != nil {
		t.Fatal(err)
	}
	f.s = &Sender{
		Store: f.st, Router: route.New(providers, nil, br, true, zap.NewNop()), Log: zap.NewNop(), MaxAttempts: 3,
		Policy: func(app string) config.Resolved {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.policyApps = append(f.policyApps, app)
			return f.pol
		},
		Now: clock, WaitUnavailable: 2 * time.Second, Texts: NewTextCache(64),
		retries: func(context.Context) (int, int) { return 0, 25 },
	}
	return f
}

// withRates limits sends per operator (limits as SMSFLEET_RATE_LIMITS) on
// the fixture's Redis; a denied SMS never waits inline.
func (f *fixture) withRates(limits string) *Rates {
	f.t.Helper()
	lim, err := ratelimit.ParseLimits(limits)
	if err != nil {
		f.t.Fatal(err)
	}
	ops, err := ratelimit.NewOperators(nil)
	if err != nil {
		f.t.Fatal(err)
	}
	f.s.Rates = &Rates{Operators: ops, Limits: lim, Limiter: ratelimit.NewLimiter(f.st.Redis(), ratelimit.Options{}), MaxInlineWait: 0, MaxWaiters: 1}
	return f.s.Rates
}

// msg is a notification to write through the store; zero fields take
// defaults (a transactional "hi" of testApp, valid an hour from t0).
type msg struct {
	typ          sms.Type
	content      string
	placeholders string
	sender       string
	cappingDays  int
	cappingCount int
	validity     time.Duration
}

// create writes a direct message of m to phone (store.CreateMessage) and
// returns the SMS id: a queued SMS record.
func (f *fixture) create(m msg, phone string) string {
	f.t.Helper()
	f.codes++
	code := fmt.Sprintf("TEST-%08d-%08d", f.codes, f.codes)
	if m.typ == "" {
		m.typ = sms.Transactional
	}
	if m.content == "" {
		m.content = `"hi"`
	}
	if m.validity == 0 {
		m.validity = time.Hour
	}
	sm := &store.Message{App: testApp, Code: code, Type: m.typ, Content: m.content, Placeholders: m.placeholders, Sender: m.sender,
		SendAt: t0, Validity: m.validity, CappingDays: m.cappingDays, CappingCount: m.cappingCount, Direct: true, ChunkSize: 10}
	if _, created, err := f.st.CreateMessage(f.ctx, sm, []store.Audience{{Zone: "UTC", SendAt: t0, Phones: []string{phone}}}); err != nil || !created {
		f.t.Fatalf("create message: %v %v", created, err)
	}
	return storetest.SMSID(f.t, f.st, code, phone)
}

// device registers phone as a device of testApp.
func (f *fixture) device(phone, lang string, tags map[string]json.RawMessage) {
	f.t.Helper()
	if _, err := f.st.RegisterDevice(f.ctx, testApp, store.Device{Phone: phone, Language: lang, Tags: tags}); err != nil {
		f.t.Fatal(err)
	}
}

// consenting registers phone as a device that consented to marketing.
func (f *fixture) consenting(phone string) {
	f.device(phone, "", map[string]json.RawMessage{"consent": json.RawMessage("true")})
}

// rec reads the SMS record through the store.
func (f *fixture) rec(id string) store.SMS {
	f.t.Helper()
	r, err := f.st.GetSMS(f.ctx, id)
	if err != nil {
		f.t.Fatalf("get sms %s: %v", id, err)
	}
	return r
}

// counts are the message's counts by status.
func (f *fixture) counts(id string) map[sms.Status]int64 {
	f.t.Helper()
	m, err := f.st.GetMessage(f.ctx, "", sms.MessageCodeOf(id))
	if err != nil {
		f.t.Fatal(err)
	}
	return m.Counts
}

// ref names an SMS as a send task does: with its application and phone.
func ref(id, phone string) store.SMSRef { return store.SMSRef{ID: id, App: testApp, Phone: phone} }

// upTo runs the stages load → judge → compose → admit over refs, as
// process does, and returns the batch for the next stage.
func (f *fixture) upTo(refs ...store.SMSRef) []*item {
	f.t.Helper()
	items, err := f.s.load(f.ctx, refs)
	if err != nil {
		f.t.Fatal(err)
	}
	for _, it := range live(items) {
		it.verdict = judge(it.l, it.pol, f.s.Now())
	}
	f.s.compose(live(items))
	f.s.admit(f.ctx, live(items))
	return items
}

// delivered runs every stage up to and with deliver over one SMS.
func (f *fixture) delivered(id, phone string) *item {
	f.t.Helper()
	items := f.upTo(ref(id, phone))
	f.s.deliver(f.ctx, live(items))
	return items[0]
}

// answer is how a stub provider answers one call.
type answer int

const (
	answerOK       answer = iota // 201 with a sid
	answerDown                   // 503: a clean transient failure
	answerReject                 // 400, Twilio code 21211: permanent
	answerThrottle               // 429, code 20429
	answerHang                   // no answer until the client gives up
)

// stub is a provider as a real HTTP server speaking the Twilio-style API,
// counting every call it receives and keeping the accepted ones.
type stub struct {
	name   string
	srv    *httptest.Server
	answer atomic.Int64
	calls  atomic.Int64
	mu     sync.Mutex
	got    []provider.Request // accepted SMS
	client *provider.Twilio
	// onCall, when set (before any call), runs at the start of each call.
	onCall func()
}

// newStub starts a provider server answering a; timeout bounds the
// client's wait for an answer (0: the HTTP client's own deadline).
func newStub(t *testing.T, name string, a answer, timeout time.Duration) *stub {
	t.Helper()
	p := &stub{name: name}
	p.answer.Store(int64(a))
	p.srv = httptest.NewServer(http.HandlerFunc(p.serve))
	t.Cleanup(p.srv.Close)
	p.client = provider.NewTwilio(provider.TwilioConfig{Name: name, BaseURL: p.srv.URL, AccountSID: "ACtest", AuthToken: "token", Timeout: timeout}, nil)
	return p
}

func (p *stub) set(a answer) { p.answer.Store(int64(a)) }

func (p *stub) serve(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(r.Body)
	p.calls.Add(1)
	if p.onCall != nil {
		p.onCall()
	}
	w.Header().Set("Content-Type", "application/json")
	switch answer(p.answer.Load()) {
	case answerOK:
		form, _ := url.ParseQuery(string(raw))
		key := r.Header.Get("Idempotency-Key")
		p.mu.Lock()
		p.got = append(p.got, provider.Request{ID: key, To: form.Get("To"), From: form.Get("From"), Text: form.Get("Body")})
		p.mu.Unlock()
		w.WriteHeader(http.StatusCreated)
		_, _ = fmt.Fprintf(w, `{"sid":%q}`, refOf(p.name, key))
	case answerDown:
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, `{"code":20500,"message":"service unavailable"}`)
	case answerReject:
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, `{"code":21211,"message":"invalid 'To' phone number"}`)
	case answerThrottle:
		w.WriteHeader(http.StatusTooManyRequests)
		_, _ = io.WriteString(w, `{"code":20429,"message":"too many requests"}`)
	case answerHang:
		// The request was written and read: the provider may have taken
		// it. It never answers; the client's deadline ends the call.
		<-r.Context().Done()
	}
}

// refOf is the reference a stub answers for an SMS.
func refOf(provider, id string) string { return "SM-" + provider + "-" + id }

// received are the SMS the stub accepted.
func (p *stub) received() []provider.Request {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]provider.Request(nil), p.got...)
}

// providers are the stubs' clients, in order.
func providers(stubs ...*stub) []provider.Provider {
	out := make([]provider.Provider, len(stubs))
	for i, s := range stubs {
		out[i] = s.client
	}
	return out
}

// quickBreaker trips on the first transient failure and stays open.
func quickBreaker() config.Breaker {
	return config.Breaker{Window: time.Minute, MinRequests: 1, FailureRatio: 0.5, OpenTimeout: time.Hour, Probes: 1}
}

// trip opens the breaker of the named providers by calling them once while
// their stubs answer 503.
func (f *fixture) trip(stubs ...*stub) {
	f.t.Helper()
	for _, p := range stubs {
		prev := answer(p.answer.Load())
		p.set(answerDown)
		m := f.s.Router.Member(p.name)
		_, _ = m.Send(f.ctx, provider.Request{ID: "trip", To: "+4915112999999", Text: "trip"})
		p.set(prev)
		if !m.Open() {
			f.t.Fatalf("breaker of %s did not open", p.name)
		}
	}
}

// begin takes an SMS for sending through the store (load, then Begin), as
// an earlier run of the worker did, and returns its attempt count.
func (f *fixture) begin(id string) int {
	f.t.Helper()
	l, ok, err := f.st.LoadSMS(f.ctx, id)
	if err != nil || !ok {
		f.t.Fatalf("load %s: %v %v", id, ok, err)
	}
	n, capped, ok, err := f.st.Begin(f.ctx, id, l)
	if err != nil || !ok || capped {
		f.t.Fatalf("begin %s: ok=%v capped=%v %v", id, ok, capped, err)
	}
	return n
}
