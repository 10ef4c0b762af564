package provider

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Simulator is the client of smsfleet's provider simulator
// (internal/simulator): JSON over HTTP, the SMS id as Idempotency-Key.
type Simulator struct {
	name string
	url  string
	hc   *http.Client
}

// NewSimulator returns a client for the simulator at baseURL (for example
// http://127.0.0.1:8080/simulator). A nil hc gets NewHTTPClient().
func NewSimulator(name, baseURL string, hc *http.Client) *Simulator {
	if hc == nil {
		hc = NewHTTPClient()
	}
	return &Simulator{name: name, url: strings.TrimRight(baseURL, "/") + "/messages", hc: hc}
}

// Name implements Provider.
func (s *Simulator) Name() string { return s.name }

// Send implements Provider.
func (s *Simulator) Send(ctx context.Context, req Request) (Result, error) {
	body, err := json.Marshal(map[string]string{"id": req.ID, "to": req.To, "from": req.From, "text": req.Text})
	if err != nil {
		return Result{}, &Error{Provider: s.name, Class: Permanent, Message: "encode request", Err: err}
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, bytes.NewReader(body))
	if err != nil {
		return Result{}, &Error{Provider: s.name, Class: Permanent, Message: "build request", Err: err}
	}
	hr.Header.Set("Content-Type", "application/json")
	hr.Header.Set("Idempotency-Key", req.ID)
	resp, err := s.hc.Do(hr)
	if err != nil {
		return Result{}, &Error{Provider: s.name, Class: Transient, Message: "request failed", Err: err}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return Result{}, &Error{Provider: s.name, Class: Transient, Message: "read response", Err: err}
	}
	var out struct {
		Ref   string `json:"ref"`
		Error string `json:"error"`
		Code  string `json:"code"`
	}
	_ = json.Unmarshal(raw, &out) // an unreadable body still has a status code to classify
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		if out.Ref == "" {
			return Result{}, &Error{Provider: s.name, Class: Transient, Message: "accepted without a reference"}
		}
		return Result{Provider: s.name, Ref: out.Ref}, nil
	case resp.StatusCode == http.StatusTooManyRequests:
		return Result{}, &Error{Provider: s.name, Class: Throttled, Code: out.Code, Message: orStatus(out.Error, resp)}
	case resp.StatusCode >= 500:
		return Result{}, &Error{Provider: s.name, Class: Transient, Code: out.Code, Message: orStatus(out.Error, resp)}
	default:
		return Result{}, &Error{Provider: s.name, Class: Permanent, Code: out.Code, Message: orStatus(out.Error, resp)}
	}
}

func orStatus(msg string, resp *http.Response) string {
	if msg != "" {
		return msg
	}
	return fmt.Sprintf("HTTP %d", resp.StatusCode)
}

// NewHTTPClient returns the HTTP client provider calls use: a 10 s
// deadline, and a connection pool that keeps as many idle connections per
// provider as a worker sends at once. Go's default keeps two, so 50
// concurrent sends would open and close connections (and TLS sessions)
// all the time.
func NewHTTPClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 512
	t.MaxIdleConnsPerHost = 256
	t.IdleConnTimeout = 90 * time.Second
	return &http.Client{Timeout: 10 * time.Second, Transport: t}
}
