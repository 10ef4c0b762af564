// Package simulator is a provider simulator: an HTTP server that speaks the
// Twilio-style Messages API (what worker/provider.Twilio sends) for any
// number of named providers, so demos, dev mode and end-to-end tests run the
// real provider client against something that behaves like a provider,
// including its failures.
//
// Routes, all under /simulator/ (mount Handler there):
//
//	POST /simulator/{name}/2010-04-01/Accounts/{sid}/Messages.json
//	     send an SMS through provider name (created on first use); form
//	     fields To, From or MessagingServiceSid, Body, StatusCallback; basic
//	     auth with any non-empty credentials whose user is {sid}
//	GET  /simulator/{name}/faults    the provider's faults
//	POST /simulator/{name}/faults    replace them (see Faults)
//	GET  /simulator/messages?to=&provider=&limit=
//	     accepted SMS, newest first
//	GET  /simulator/stats?since=&prefix=&arrivals=&limit=
//	     counts, and arrival times for load tests (see Stats)
//
// Test numbers, by the last four digits of To:
//
//	0001  rejected permanently (HTTP 400, code 21211, invalid number)
//	0004  one transient HTTP 503 per idempotency key, then accepted
//	else  accepted
//
// A repeated Idempotency-Key (per provider) returns the first answer and is
// not recorded again, so a retried send is never a second SMS.
package simulator

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/smsfleet/smsfleet/internal/backoff"
	"github.com/smsfleet/smsfleet/internal/signature"
)

// Received is one SMS the simulator accepted.
type Received struct {
	key string // the idempotency key it was accepted under
	// ID is the SMS id, as sent in the Idempotency-Key header.
	ID                  string    `json:"id"`
	Ref                 string    `json:"ref"` // the sid answered
	Provider            string    `json:"provider"`
	Account             string    `json:"account_sid"`
	To                  string    `json:"to"`
	From                string    `json:"from"`
	MessagingServiceSID string    `json:"messaging_service_sid,omitempty"`
	Text                string    `json:"text"`
	StatusCallback      string    `json:"status_callback,omitempty"`
	ReceivedAt          time.Time `json:"received_at"` // RFC 3339 with nanoseconds in JSON
}

// Faults make a provider misbehave. A POST to /simulator/{name}/faults
// replaces all of them: a field left out is reset to its zero value, so the
// body always states the whole fault set and `{}` clears it.
type Faults struct {
	// Down answers every send 503 and accepts nothing.
	Down bool `json:"down"`
	// ErrorRate is the share of sends answered 503 (nothing accepted).
	ErrorRate float64 `json:"error_rate"`
	// ThrottleRate is the share of sends answered 429, code 20429.
	ThrottleRate float64 `json:"throttle_rate"`
	// LatencyMS delays every send's answer. The send is decided (and an
	// accepted SMS recorded) before the wait, as at a real provider whose
	// answer is slow: a client that times out has an ambiguous failure, and
	// its retry with the same Idempotency-Key gets the same sid.
	LatencyMS int `json:"latency_ms"`
	// UndeliveredRate is the share of accepted SMS whose delivery receipt
	// says undelivered (error 30003): a provider that takes SMS but stops
	// delivering them, which only routing on delivery quality notices.
	UndeliveredRate float64 `json:"undelivered_rate"`
	// ReceiptDelayMS delays every receipt further (beyond the simulator's
	// own receipt delay): a provider whose receipts come late.
	ReceiptDelayMS int `json:"receipt_delay_ms"`
}

// MaxLatencyMS bounds Faults.LatencyMS.
const MaxLatencyMS = 60_000

// MaxReceiptDelayMS bounds Faults.ReceiptDelayMS (an hour).
const MaxReceiptDelayMS = 3_600_000

// Validate reports what is wrong with f, naming the field.
func (f Faults) Validate() error {
	switch {
	case !(f.ErrorRate >= 0 && f.ErrorRate <= 1):
		return fmt.Errorf("error_rate must be between 0 and 1, got %v", f.ErrorRate)
	case !(f.ThrottleRate >= 0 && f.ThrottleRate <= 1):
		return fmt.Errorf("throttle_rate must be between 0 and 1, got %v", f.ThrottleRate)
	case f.LatencyMS < 0 || f.LatencyMS > MaxLatencyMS:
		return fmt.Errorf("latency_ms must be between 0 and %d, got %d", MaxLatencyMS, f.LatencyMS)
	case !(f.UndeliveredRate >= 0 && f.UndeliveredRate <= 1):
		return fmt.Errorf("undelivered_rate must be between 0 and 1, got %v", f.UndeliveredRate)
	case f.ReceiptDelayMS < 0 || f.ReceiptDelayMS > MaxReceiptDelayMS:
		return fmt.Errorf("receipt_delay_ms must be between 0 and %d, got %d", MaxReceiptDelayMS, f.ReceiptDelayMS)
	}
	return nil
}

// maxProviders caps how many provider names one simulator creates, since
// any path creates one and a typo loop must not grow memory without end.
const maxProviders = 1024

// validName is what a provider name may look like: it is a path segment
// and shows up in listings.
var validName = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// account is one simulated provider's state.
type account struct {
	faults    Faults
	byKey     map[string]answer // idempotency key -> the answer it got
	failedKey map[string]bool   // 0004 keys that have had their one 503
	count     int               // SMS held in Simulator.received
}

// answer is a stored acceptance, replayed for a repeated key.
type answer struct {
	status int
	body   []byte
}

// Simulator keeps what it accepted in memory, up to a cap (oldest dropped).
type Simulator struct {
	name string
	cap  int

	mu        sync.Mutex
	received  []Received
	providers map[string]*account

	// dlrDelay, when set, makes the simulator post a delivery receipt to an
	// accepted SMS's StatusCallback after the delay: Twilio's status
	// callback fields, signed the Standard Webhooks way with dlrSecret
	// (webhook-id, webhook-timestamp, webhook-signature), so a captured
	// receipt cannot be replayed. By the last four digits of the number:
	// 0002 undelivered (error 30003), 0003 never a receipt, others
	// delivered.
	dlrDelay  time.Duration
	dlrSecret string
	client    *http.Client
	now       func() time.Time
}

// SendReceipts turns delivery receipts on (see Simulator.dlrDelay),
// signed with secret: the fleet's SMSFLEET_SIMULATOR_SECRET (or the
// provider's dlr_secret_env).
func (s *Simulator) SendReceipts(delay time.Duration, secret string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dlrDelay, s.dlrSecret = delay, secret
	s.client = &http.Client{Timeout: 5 * time.Second}
}

// SetClock sets the clock webhook timestamps are taken from (tests).
func (s *Simulator) SetClock(now func() time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.now = now
}

// clock returns the clock; s.mu must be held.
func (s *Simulator) clock() func() time.Time {
	if s.now == nil {
		return time.Now
	}
	return s.now
}

// SignWebhook sets the Standard Webhooks headers of a webhook the
// simulator posts (a receipt or a reply) on h: id is stable across the
// retries of one webhook, the timestamp is the attempt's.
func SignWebhook(h http.Header, secret, id string, now time.Time, body []byte) error {
	return signature.SetStandard(h, secret, id, now, body)
}

// postReceipt posts msg's delivery receipt, retrying a few times as a
// provider would while the receiver answers 5xx.
func (s *Simulator) postReceipt(msg Received, delay time.Duration, undelivered bool, secret string, client *http.Client, now func() time.Time) {
	status, code := "delivered", ""
	switch {
	case strings.HasSuffix(msg.To, "0003"):
		return
	case strings.HasSuffix(msg.To, "0002") || undelivered:
		status, code = "undelivered", "30003"
	}
	fields := url.Values{"MessageSid": {msg.Ref}, "MessageStatus": {status}, "To": {msg.To}, "AccountSid": {msg.Account}}
	if code != "" {
		fields.Set("ErrorCode", code)
	}
	time.Sleep(delay)
	body := fields.Encode()
	// One id for every attempt: a retry is the same webhook, and the fleet
	// takes it once.
	id := "rcpt_" + msg.Ref + "_" + status
	for attempt := range 5 {
		req, err := http.NewRequest(http.MethodPost, msg.StatusCallback, strings.NewReader(body))
		if err != nil {
			return
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if err := SignWebhook(req.Header, secret, id, now(), []byte(body)); err != nil {
			return // no secret: an unsigned receipt would be refused anyway
		}
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode < 500 {
				return
			}
		}
		receiptRetry.Wait(context.Background(), attempt)
	}
}

// PostReply posts a reply from phone from to the number to, as a provider
// forwards one, to url (the fleet's /webhooks/inbound/{provider}): JSON
// {"from","to","text"} signed like the receipts, under a fresh id. It
// answers the HTTP status.
func (s *Simulator) PostReply(ctx context.Context, url, from, to, text string) (int, error) {
	s.mu.Lock()
	secret, now := s.dlrSecret, s.clock()
	s.mu.Unlock()
	body, err := json.Marshal(map[string]string{"from": from, "to": to, "text": text})
	if err != nil {
		return 0, fmt.Errorf("reply body: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(string(body)))
	if err != nil {
		return 0, fmt.Errorf("reply request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	var id [12]byte
	_, _ = rand.Read(id[:])
	if err := SignWebhook(req.Header, secret, "reply_"+hex.EncodeToString(id[:]), now(), body); err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("posting reply: %w", err)
	}
	_ = resp.Body.Close()
	return resp.StatusCode, nil
}

// receiptRetry paces a receipt's re-posts, as a provider backs off.
var receiptRetry = backoff.Policy{Base: 200 * time.Millisecond, Max: 2 * time.Second}

// New returns a simulator that keeps at most keep accepted SMS over all its
// providers (0 means 1,000,000). name is its first provider, created now so
// its faults can be read before anything was sent.
func New(name string, keep int) *Simulator {
	if keep <= 0 {
		keep = 1_000_000
	}
	s := &Simulator{name: name, cap: keep, providers: map[string]*account{}}
	if validName.MatchString(name) {
		s.mu.Lock()
		_, _ = s.provider(name)
		s.mu.Unlock()
	}
	return s
}

// provider returns the state of name, creating it; s.mu must be held.
func (s *Simulator) provider(name string) (*account, error) {
	if a, ok := s.providers[name]; ok {
		return a, nil
	}
	if !validName.MatchString(name) {
		return nil, fmt.Errorf("provider name %q: use 1 to 64 letters, digits, '.', '_' or '-'", name)
	}
	if len(s.providers) >= maxProviders {
		return nil, fmt.Errorf("too many providers (%d)", maxProviders)
	}
	a := &account{byKey: map[string]answer{}, failedKey: map[string]bool{}}
	s.providers[name] = a
	return a, nil
}

// Handler serves the simulator's routes (see the package comment); mount
// it at "/simulator/".
func (s *Simulator) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /simulator/{name}/2010-04-01/Accounts/{sid}/Messages.json", s.send)
	mux.HandleFunc("GET /simulator/{name}/faults", s.getFaults)
	mux.HandleFunc("POST /simulator/{name}/faults", s.postFaults)
	mux.HandleFunc("GET /simulator/messages", s.list)
	mux.HandleFunc("GET /simulator/stats", s.stats) // stats.go
	return mux
}

// twilioError is the shape of Twilio's error answers.
func twilioError(status, code int, msg string) []byte {
	b, _ := json.Marshal(map[string]any{
		"code": code, "message": msg, "status": status,
		"more_info": "https://www.twilio.com/docs/errors/" + strconv.Itoa(code),
	})
	return b
}

func (s *Simulator) send(w http.ResponseWriter, r *http.Request) {
	name, sid := r.PathValue("name"), r.PathValue("sid")
	user, pass, ok := r.BasicAuth()
	if !ok || user == "" || pass == "" || user != sid {
		w.Header().Set("WWW-Authenticate", `Basic realm="Twilio API"`)
		writeRaw(w, http.StatusUnauthorized, twilioError(401, 20003, "Authenticate"))
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		writeRaw(w, http.StatusBadRequest, twilioError(400, 20001, "Malformed form body: "+err.Error()))
		return
	}
	key := r.Header.Get("Idempotency-Key")
	msg := Received{
		key: key, ID: key, Provider: name, Account: sid,
		To: r.PostForm.Get("To"), From: r.PostForm.Get("From"), MessagingServiceSID: r.PostForm.Get("MessagingServiceSid"),
		Text: r.PostForm.Get("Body"), StatusCallback: r.PostForm.Get("StatusCallback"),
	}

	s.mu.Lock()
	a, err := s.provider(name)
	if err != nil {
		s.mu.Unlock()
		writeRaw(w, http.StatusNotFound, twilioError(404, 20404, err.Error()))
		return
	}
	faults := a.faults
	status, body, replayed := s.decide(a, msg, faults)
	s.mu.Unlock()

	if faults.LatencyMS > 0 {
		t := time.NewTimer(time.Duration(faults.LatencyMS) * time.Millisecond)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			// The client gave up (or the server is stopping): drop the
			// connection instead of answering, as a lost answer looks.
			panic(http.ErrAbortHandler)
		}
	}
	if replayed {
		w.Header().Set("Idempotent-Replayed", "true")
	}
	if status == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", "1")
	}
	writeRaw(w, status, body)
}

// decide answers one send and records it when accepted; s.mu must be held.
// Faults come first: a provider that is down or overloaded answers so
// whatever the request, and accepts nothing.
func (s *Simulator) decide(a *account, msg Received, f Faults) (status int, body []byte, replayed bool) {
	if status, body := refusal(msg, f); status != 0 {
		return status, body, false
	}
	if msg.key != "" {
		if prev, ok := a.byKey[msg.key]; ok {
			return prev.status, prev.body, true
		}
	}
	// Without a key, the number stands in for it so a keyless 0004 still
	// fails only once.
	failKey := msg.key
	if failKey == "" {
		failKey = "to:" + msg.To
	}
	if status, body := a.testNumber(msg.To, failKey); status != 0 {
		return status, body, false
	}
	return http.StatusCreated, s.accept(a, msg, f, failKey), false
}

// refusal is the answer of a provider at fault (down, throttling,
// failing) or to a request without its numbers; 0 when there is none.
func refusal(msg Received, f Faults) (int, []byte) {
	switch {
	case f.Down:
		return http.StatusServiceUnavailable, twilioError(503, 20503, "Service Unavailable (simulated outage)")
	case f.ThrottleRate > 0 && mrand.Float64() < f.ThrottleRate:
		return http.StatusTooManyRequests, twilioError(429, 20429, "Too Many Requests (simulated)")
	case f.ErrorRate > 0 && mrand.Float64() < f.ErrorRate:
		return http.StatusServiceUnavailable, twilioError(503, 20500, "Internal Server Error (simulated)")
	case msg.To == "":
		return http.StatusBadRequest, twilioError(400, 21604, "A 'To' phone number is required.")
	case msg.From == "" && msg.MessagingServiceSID == "":
		return http.StatusBadRequest, twilioError(400, 21603, "A 'From' phone number is required.")
	}
	return 0, nil
}

// testNumber is the answer of the simulator's test numbers (0001 never
// valid, 0004 failing once per failKey); 0 for any other number.
func (a *account) testNumber(to, failKey string) (int, []byte) {
	switch {
	case strings.HasSuffix(to, "0001"):
		return http.StatusBadRequest, twilioError(400, 21211, "The 'To' number is not a valid phone number.")
	case strings.HasSuffix(to, "0004") && !a.failedKey[failKey]:
		a.failedKey[failKey] = true
		return http.StatusServiceUnavailable, twilioError(503, 20503, "Service Unavailable (test number 0004 fails once)")
	}
	return 0, nil
}

// accept records an accepted msg (keeping at most s.cap), schedules its
// receipt under the faults of the moment, and returns its resource.
func (s *Simulator) accept(a *account, msg Received, f Faults, failKey string) []byte {
	msg.Ref = newSID()
	msg.ReceivedAt = time.Now().UTC()
	body := messageResource(msg)
	if msg.key != "" {
		a.byKey[msg.key] = answer{status: http.StatusCreated, body: body}
	}
	delete(a.failedKey, failKey)
	s.received = append(s.received, msg)
	if s.dlrDelay > 0 && msg.StatusCallback != "" {
		// The receipt's fate is decided with the acceptance, under the
		// faults of the moment.
		undelivered := f.UndeliveredRate > 0 && mrand.Float64() < f.UndeliveredRate
		delay := s.dlrDelay + time.Duration(f.ReceiptDelayMS)*time.Millisecond
		go s.postReceipt(msg, delay, undelivered, s.dlrSecret, s.client, s.clock())
	}
	a.count++
	if len(s.received) > s.cap {
		drop := s.received[0]
		s.received[0] = Received{} // let the strings go with the slot
		s.received = s.received[1:]
		if da := s.providers[drop.Provider]; da != nil {
			delete(da.byKey, drop.key)
			da.count--
		}
	}
	return body
}

// messageResource is Twilio's answer to a created message.
func messageResource(m Received) []byte {
	created := m.ReceivedAt.Format(time.RFC1123Z)
	uri := "/2010-04-01/Accounts/" + m.Account + "/Messages/" + m.Ref
	res := map[string]any{
		"sid": m.Ref, "account_sid": m.Account, "api_version": "2010-04-01",
		"to": m.To, "from": nullable(m.From), "messaging_service_sid": nullable(m.MessagingServiceSID),
		"body": m.Text, "status": "queued", "direction": "outbound-api",
		"num_segments": "1", "num_media": "0", "price": nil, "price_unit": "USD",
		"error_code": nil, "error_message": nil,
		"date_created": created, "date_updated": created, "date_sent": nil,
		"uri": uri + ".json", "subresource_uris": map[string]string{"media": uri + "/Media.json"},
	}
	if m.From == "" {
		// Twilio answers "accepted" when a messaging service still has to
		// pick the sender.
		res["status"] = "accepted"
	}
	b, _ := json.Marshal(res)
	return b
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func (s *Simulator) getFaults(w http.ResponseWriter, r *http.Request) {
	f, err := s.Faults(r.PathValue("name"))
	if err != nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, f)
}

func (s *Simulator) postFaults(w http.ResponseWriter, r *http.Request) {
	var f Faults
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4<<10))
	// A misspelt field would otherwise silently mean "no fault".
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "faults: " + err.Error() +
			`; send {"down": bool, "error_rate": 0..1, "throttle_rate": 0..1, "latency_ms": 0..60000}`})
		return
	}
	if err := s.SetFaults(r.PathValue("name"), f); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "faults: " + err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, f)
}

// SetFaults replaces the faults of provider name, creating it.
func (s *Simulator) SetFaults(name string, f Faults) error {
	if err := f.Validate(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a, err := s.provider(name)
	if err != nil {
		return err
	}
	a.faults = f
	return nil
}

// Faults returns the faults of provider name, creating it.
func (s *Simulator) Faults(name string) (Faults, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, err := s.provider(name)
	if err != nil {
		return Faults{}, err
	}
	return a.faults, nil
}

func (s *Simulator) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit := 100
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "limit must be a positive integer"})
			return
		}
		limit = n
	}
	writeJSON(w, http.StatusOK, map[string]any{"messages": s.MessagesBy(q.Get("provider"), q.Get("to"), limit)})
}

// Messages returns accepted SMS newest first, optionally only those to to.
func (s *Simulator) Messages(to string, limit int) []Received {
	return s.MessagesBy("", to, limit)
}

// MessagesBy returns accepted SMS newest first, optionally only those
// accepted by provider and those to to.
func (s *Simulator) MessagesBy(provider, to string, limit int) []Received {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []Received{}
	for i := len(s.received) - 1; i >= 0 && len(out) < limit; i-- {
		m := s.received[i]
		if (to == "" || m.To == to) && (provider == "" || m.Provider == provider) {
			out = append(out, m)
		}
	}
	return out
}

// Count returns how many accepted SMS the simulator holds.
func (s *Simulator) Count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.received)
}

// CountBy returns how many accepted SMS of provider the simulator holds.
func (s *Simulator) CountBy(provider string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if a := s.providers[provider]; a != nil {
		return a.count
	}
	return 0
}

// newSID is a Twilio-shaped message sid: SM and 32 hex digits.
func newSID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return "SM" + hex.EncodeToString(b[:])
}

func writeRaw(w http.ResponseWriter, code int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(body)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
