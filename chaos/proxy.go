package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/smsfleet/smsfleet/internal/provider"
	"github.com/smsfleet/smsfleet/internal/simulator"
)

// hangFor is how long a hanging provider holds its answers: beyond the
// workers' 10 s HTTP client timeout (provider.NewHTTPClient; the simulator
// kind takes no timeout of its own), so every answer is lost.
const hangFor = 15 * time.Second

// proxy is the logging provider proxy between the workers and the
// simulator. For every send it counts, per idempotency key (the SMS id),
// the calls the simulator accepted (2xx, replays included: what a
// provider without idempotency would have sent) and the first-time
// acceptances per provider (what the idempotent simulator really sent).
// It can hold one provider's answers beyond the client timeout, and it
// posts the delivery receipt of every first-time acceptance to the
// StatusCallback, retrying as a provider would, because the standalone
// simulator posts none.
type proxy struct {
	addr   string
	target string
	srv    *http.Server
	client *http.Client

	hang atomic.Value // string: the provider whose answers are held, "" none

	mu        sync.Mutex
	calls     map[string]int            // key -> calls forwarded
	accepted  map[string]int            // key -> 2xx answers from the simulator (replays too)
	delivered map[string]map[string]int // key -> provider -> first-time acceptances
	receipt   map[string]bool           // key -> receipt acknowledged (2xx) by the webhook
	rcptFail  map[string]bool           // key -> receipt given up
	receipts  sync.WaitGroup
	closing   chan struct{}
}

func startProxy(target string) (*proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &proxy{
		addr: ln.Addr().String(), target: target, client: &http.Client{Timeout: 30 * time.Second},
		calls: map[string]int{}, accepted: map[string]int{}, delivered: map[string]map[string]int{},
		receipt: map[string]bool{}, rcptFail: map[string]bool{}, closing: make(chan struct{}),
	}
	p.hang.Store("")
	p.srv = &http.Server{Handler: p, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = p.srv.Serve(ln) }()
	return p, nil
}

func (p *proxy) setHang(providerName string) { p.hang.Store(providerName) }

// setFaults sets a provider's faults on the simulator.
func (p *proxy) setFaults(providerName, faults string) error {
	resp, err := p.client.Post(p.target+"/simulator/"+providerName+"/faults", "application/json", strings.NewReader(faults))
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

func (p *proxy) close() {
	close(p.closing)
	_ = p.srv.Close()
	p.receipts.Wait()
}

func (p *proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	req, _ := http.NewRequest(r.Method, p.target+r.URL.RequestURI(), bytes.NewReader(body))
	req.Header = r.Header.Clone()
	resp, err := p.client.Do(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()

	key := r.Header.Get("Idempotency-Key")
	send := r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/Messages.json") && key != ""
	name := providerOf(r.URL.Path)
	if send {
		p.record(key, name, resp, answer, body)
		if h, _ := p.hang.Load().(string); h != "" && h == name {
			select {
			case <-time.After(hangFor):
			case <-r.Context().Done():
				return // the client gave up: its answer is lost, as on a hung provider
			case <-p.closing:
				return
			}
		}
	}
	for k, v := range resp.Header {
		w.Header()[k] = v
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(answer)
}

// providerOf reads {name} from /simulator/{name}/2010-04-01/....
func providerOf(path string) string {
	parts := strings.Split(strings.TrimPrefix(path, "/simulator/"), "/")
	return parts[0]
}

func (p *proxy) record(key, name string, resp *http.Response, answer, form []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls[key]++
	if resp.StatusCode/100 != 2 {
		return
	}
	p.accepted[key]++
	if resp.Header.Get("Idempotent-Replayed") == "true" {
		return
	}
	if p.delivered[key] == nil {
		p.delivered[key] = map[string]int{}
	}
	p.delivered[key][name]++
	vals, _ := url.ParseQuery(string(form))
	var res struct {
		SID string `json:"sid"`
	}
	_ = json.Unmarshal(answer, &res)
	if cb := vals.Get("StatusCallback"); cb != "" && res.SID != "" {
		p.receipts.Add(1)
		go p.postReceipt(key, cb, res.SID, vals.Get("To"))
	}
}

// chaosSimulatorSecret is the fleet's SMSFLEET_SIMULATOR_SECRET here.
const chaosSimulatorSecret = "chaos-simulator-webhook-secret"

// postReceipt posts a Twilio-style "delivered" receipt signed like the
// simulator's, retrying every second for up to a minute while the
// webhook is unreachable or answers 5xx.
func (p *proxy) postReceipt(key, cb, sid, to string) {
	defer p.receipts.Done()
	fields := url.Values{"MessageSid": {sid}, "MessageStatus": {"delivered"}, "To": {to}, "AccountSid": {provider.SimulatorAccountSID}}
	c := &http.Client{Timeout: 5 * time.Second}
	for range 60 {
		select {
		case <-time.After(time.Second):
		case <-p.closing:
			return
		}
		req, _ := http.NewRequest(http.MethodPost, cb, strings.NewReader(fields.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if err := simulator.SignWebhook(req.Header, chaosSimulatorSecret, "rcpt_"+sid, time.Now(), []byte(fields.Encode())); err != nil {
			return
		}
		resp, err := c.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode < 500 {
				p.mu.Lock()
				p.receipt[key] = resp.StatusCode/100 == 2
				p.mu.Unlock()
				return
			}
		}
	}
	p.mu.Lock()
	p.rcptFail[key] = true
	p.mu.Unlock()
}

// counts is what the proxy saw for one key.
type counts struct {
	calls, accepted, delivered int
	receiptAcked               bool
}

func (p *proxy) countsOf(key string) counts {
	p.mu.Lock()
	defer p.mu.Unlock()
	c := counts{calls: p.calls[key], accepted: p.accepted[key], receiptAcked: p.receipt[key]}
	for _, n := range p.delivered[key] {
		c.delivered += n
	}
	return c
}

// summary is the proxy's totals per provider, for the scenario's log.
func (p *proxy) summary() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	per := map[string]int{}
	calls, accepted := 0, 0
	for _, n := range p.calls {
		calls += n
	}
	for _, n := range p.accepted {
		accepted += n
	}
	for _, m := range p.delivered {
		for name, n := range m {
			per[name] += n
		}
	}
	return fmt.Sprintf("proxy: %d send calls, %d accepted (replays included), first-time acceptances per provider %v", calls, accepted, per)
}
