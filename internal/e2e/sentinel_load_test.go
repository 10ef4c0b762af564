package e2e_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/smsfleet/smsfleet/internal/e2e/harness"
)

// failoverLoad is a careful client of the API during a failover: single
// sends, each retried with its transactionId after a 503 (waiting out
// Retry-After), every request under a client timeout. It records every
// answer that was not an acceptance, and when.
type failoverLoad struct {
	api string
	// clientTimeout is each request's own deadline: a request that
	// outlasts it hung.
	clientTimeout time.Duration
	// retryFor is how long one SMS is retried before the client gives up.
	retryFor time.Duration

	mu       sync.Mutex
	accepted []acceptedSMS
	// notAccepted SMS the client gave up on.
	notAccepted int
	// unavailable503 are 503 answers with a Retry-After (the documented
	// answer while Redis cannot take the write).
	unavailable503 int
	// failures are hung requests, 503 without Retry-After, any other
	// status, transport errors: what must not happen.
	failures        int
	hung            int
	failureExamples []string
	// firstBad and lastBad bound the answers that were not acceptances.
	firstBad, lastBad time.Time
	// lastAccepted is the latest acceptance; longestGap the longest time
	// without one, ending at gapEnd.
	lastAccepted, gapEnd time.Time
	longestGap           time.Duration
}

// noteAcceptance moves the longest gap between acceptances; l.mu must be
// held.
func (l *failoverLoad) noteAcceptance(at time.Time) {
	if !l.lastAccepted.IsZero() && at.Sub(l.lastAccepted) > l.longestGap {
		l.longestGap, l.gapEnd = at.Sub(l.lastAccepted), at
	}
	l.lastAccepted = at
}

// acceptedSMS is one createMessage answered 200: the message code and the
// phone its one SMS goes to.
type acceptedSMS struct{ code, phone string }

// loadPhone is SMS i's phone: it ends in 5, clear of the simulator's test
// numbers (0001 to 0004).
func loadPhone(i int) string { return fmt.Sprintf("+4915112%05d5", i) }

// run sends n SMS with conc clients at once; onAccepted is called with the
// count after each acceptance.
func (l *failoverLoad) run(ctx context.Context, n, conc int, onAccepted func(int)) {
	client := &http.Client{Timeout: l.clientTimeout}
	next := make(chan int)
	var wg sync.WaitGroup
	for range conc {
		wg.Go(func() {
			for i := range next {
				if code, ok := l.createMessage(ctx, client, i); ok {
					l.mu.Lock()
					l.accepted = append(l.accepted, acceptedSMS{code: code, phone: loadPhone(i)})
					l.noteAcceptance(time.Now())
					count := len(l.accepted)
					l.mu.Unlock()
					onAccepted(count)
				} else {
					l.mu.Lock()
					l.notAccepted++
					l.mu.Unlock()
				}
			}
		})
	}
	for i := range n {
		select {
		case next <- i:
		case <-ctx.Done():
		}
	}
	close(next)
	wg.Wait()
}

// createMessage sends SMS i until it is accepted or retryFor has passed.
func (l *failoverLoad) createMessage(ctx context.Context, c *http.Client, i int) (string, bool) {
	txn := "failover-" + strconv.Itoa(i)
	body, _ := json.Marshal(map[string]any{"request": map[string]any{
		"application": harness.ShopApp, "auth": harness.ShopToken,
		"notifications": []any{map[string]any{"send_date": "now", "content": "failover " + txn, "devices": []string{loadPhone(i)},
			"use_auto_registration": true, "transactionId": txn}},
	}})
	for giveUp := time.Now().Add(l.retryFor); time.Now().Before(giveUp) && ctx.Err() == nil; {
		code, wait, ok := l.attempt(ctx, c, body)
		if ok {
			return code, true
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
		}
	}
	return "", false
}

// attempt posts body once: the message code when accepted, else how long
// to wait before the retry.
func (l *failoverLoad) attempt(ctx context.Context, c *http.Client, body []byte) (code string, wait time.Duration, ok bool) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, l.api+"/json/1.3/createMessage", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		var ne net.Error
		l.bad(errors.As(err, &ne) && ne.Timeout(), "transport: "+err.Error())
		return "", 500 * time.Millisecond, false
	}
	defer resp.Body.Close()
	var env struct {
		StatusCode    int    `json:"status_code"`
		StatusMessage string `json:"status_message"`
		Response      struct{ Messages []string }
	}
	derr := json.NewDecoder(resp.Body).Decode(&env)
	switch {
	case resp.StatusCode == http.StatusOK && derr == nil && env.StatusCode == 200 && len(env.Response.Messages) == 1:
		return env.Response.Messages[0], 0, true
	case resp.StatusCode == http.StatusServiceUnavailable:
		secs, err := strconv.Atoi(resp.Header.Get("Retry-After"))
		if err != nil || secs < 1 {
			l.bad(false, fmt.Sprintf("503 without a valid Retry-After (%q): %s", resp.Header.Get("Retry-After"), env.StatusMessage))
			return "", 500 * time.Millisecond, false
		}
		l.mu.Lock()
		l.unavailable503++
		l.markBad()
		l.mu.Unlock()
		return "", time.Duration(secs) * time.Second, false
	}
	l.bad(false, fmt.Sprintf("HTTP %d status %d %q", resp.StatusCode, env.StatusCode, env.StatusMessage))
	return "", 500 * time.Millisecond, false
}

// bad records a failure (hung: the client timeout ran out).
func (l *failoverLoad) bad(hung bool, what string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.failures++
	if hung {
		l.hung++
	}
	if len(l.failureExamples) < 5 {
		l.failureExamples = append(l.failureExamples, what)
	}
	l.markBad()
}

// markBad moves the bounds of the unavailability; l.mu must be held.
func (l *failoverLoad) markBad() {
	now := time.Now()
	if l.firstBad.IsZero() {
		l.firstBad = now
	}
	l.lastBad = now
}
