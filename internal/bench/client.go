package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// runner holds a run's HTTP client and options.
type runner struct {
	o      Options
	client *http.Client
}

// envelope is the Pushwoosh answer.
type envelope struct {
	StatusCode    int             `json:"status_code"`
	StatusMessage string          `json:"status_message"`
	Response      json.RawMessage `json:"response"`
}

// call posts {"request": req} to /json/1.3/method and fails unless the
// answer is 200 with status_code 200.
func (r *runner) call(ctx context.Context, method string, req map[string]any) (json.RawMessage, error) {
	req["application"], req["auth"] = r.o.App, r.o.Auth
	body, err := json.Marshal(map[string]any{"request": req})
	if err != nil {
		return nil, err
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(r.o.URL, "/")+"/json/1.3/"+method, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	hr.Header.Set("Content-Type", "application/json")
	resp, err := r.client.Do(hr)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", method, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("%s: reading the answer: %w", method, err)
	}
	var env envelope
	if err := json.Unmarshal(raw, &env); err != nil || resp.StatusCode != http.StatusOK || env.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: HTTP %d: %.200s", method, resp.StatusCode, raw)
	}
	return env.Response, nil
}

// register registers phone as an SMS device (device_type 18, the number
// as its hwid).
func (r *runner) register(ctx context.Context, phone string) error {
	_, err := r.call(ctx, "registerDevice", map[string]any{"hwid": phone, "device_type": 18})
	return err
}

// send sends one message now to phones (or, for Kannel, one sendsms).
func (r *runner) send(ctx context.Context, phones []string) error {
	return r.sendTyped(ctx, phones, r.o.Type)
}

func (r *runner) sendTyped(ctx context.Context, phones []string, typ string) error {
	if r.o.Target == TargetKannel {
		return r.sendsms(ctx, phones[0])
	}
	n := map[string]any{"send_date": "now", "content": "smsfleet bench", "devices": phones}
	if typ != "" {
		n["message_type"] = typ
	}
	raw, err := r.call(ctx, "createMessage", map[string]any{"notifications": []any{n}})
	if err != nil {
		return err
	}
	var resp struct {
		Messages       []string
		UnknownDevices map[string][]string
	}
	if err := json.Unmarshal(raw, &resp); err != nil || len(resp.Messages) != 1 {
		return fmt.Errorf("createMessage: unexpected answer %.200s", raw)
	}
	if len(resp.UnknownDevices) > 0 {
		// An unregistered device is skipped, and would be counted as lost.
		return fmt.Errorf("createMessage: %d devices unknown to the fleet", len(resp.UnknownDevices[resp.Messages[0]]))
	}
	return nil
}

// sendsms is Kannel's send: GET /cgi-bin/sendsms, answered 202.
func (r *runner) sendsms(ctx context.Context, phone string) error {
	user, pass, _ := strings.Cut(r.o.Auth, ":")
	q := url.Values{"username": {user}, "password": {pass}, "from": {"bench"}, "to": {phone}, "text": {"smsfleet bench"}}
	hr, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(r.o.URL, "/")+"/cgi-bin/sendsms?"+q.Encode(), nil)
	if err != nil {
		return err
	}
	resp, err := r.client.Do(hr)
	if err != nil {
		return fmt.Errorf("sendsms: %w", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("sendsms: HTTP %d: %.200s", resp.StatusCode, raw)
	}
	return nil
}

// sendOTPs sends one OTP to each phone, one after the other, recording
// when each was answered.
func (r *runner) sendOTPs(ctx context.Context, phones []string, answered []time.Time) *OTPResult {
	res := &OTPResult{}
	var took []time.Duration
	for i, ph := range phones {
		if ctx.Err() != nil {
			break
		}
		t0 := time.Now()
		err := r.sendTyped(ctx, []string{ph}, "otp")
		if err == nil {
			answered[i] = time.Now()
			took = append(took, answered[i].Sub(t0))
			res.Sent++
		}
		if r.o.OTPGap > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(r.o.OTPGap):
			}
		}
	}
	res.Request = latencyOf(took)
	return res
}

// Phones are n distinct numbers: prefix and six digits, skipping those
// the simulator treats as test numbers (…0001 rejected, …0004 failing
// once), so every SMS of a run is expected at the provider at once.
func Phones(prefix string, n int) ([]string, error) {
	if len(prefix) < 4 || prefix[0] != '+' || strings.Trim(prefix[1:], "0123456789") != "" || len(prefix)+6 > 16 {
		return nil, fmt.Errorf("-prefix must be + and 3 to 9 digits (six more follow), e.g. +4915112, got %q", prefix)
	}
	out := make([]string, 0, n)
	for k := 0; len(out) < n; k++ {
		if k > 999_999 {
			return nil, fmt.Errorf("-n: at most about 999,000 numbers fit after -prefix %s", prefix)
		}
		if s := k % 10_000; s == 1 || s == 4 {
			continue
		}
		out = append(out, prefix+fmt.Sprintf("%06d", k))
	}
	return out, nil
}

// Latency is a distribution's percentiles in milliseconds.
type Latency struct {
	Count int     `json:"count"`
	P50   float64 `json:"p50"`
	P90   float64 `json:"p90"`
	P99   float64 `json:"p99"`
	Max   float64 `json:"max"`
}

func latencyOf(d []time.Duration) Latency {
	if len(d) == 0 {
		return Latency{}
	}
	s := append([]time.Duration(nil), d...)
	sortDurations(s)
	at := func(p float64) float64 {
		i := int(p*float64(len(s))+0.5) - 1
		i = max(0, min(i, len(s)-1))
		return ms(s[i])
	}
	return Latency{Count: len(s), P50: at(0.50), P90: at(0.90), P99: at(0.99), Max: ms(s[len(s)-1])}
}

func ms(d time.Duration) float64 {
	v, _ := strconv.ParseFloat(strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 2, 64), 64)
	return v
}
