package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/smsfleet/smsfleet/internal/sms"
	"github.com/smsfleet/smsfleet/internal/store"
)

// accepted is one SMS the API accepted (answered 200 with a code). Its id
// is filled in by settle, once Redis (which holds the fleet's id key) is
// back.
type accepted struct {
	code, phone, id string
}

// load is the outcome of the sending phase.
type load struct {
	accepted    []accepted
	notAccepted int           // requests still refused when the client gave up
	maxAccept   time.Duration // slowest single HTTP request
}

// clientRetryFor is how long a client retries one createMessage (with the
// same transactionId) before it gives up.
const clientRetryFor = 60 * time.Second

// send posts n single-recipient createMessage requests at rate per second,
// each with its own transactionId, retried as a careful client does.
func send(ctx context.Context, apiAddr string, n, rate int) load {
	var (
		mu  sync.Mutex
		out load
		wg  sync.WaitGroup
	)
	sem := make(chan struct{}, 32)
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	client := &http.Client{Timeout: 10 * time.Second}
	for i := range n {
		select {
		case <-ctx.Done():
			wg.Wait()
			return out
		case <-tick.C:
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			// Ends in 7: clear of the simulator's test numbers 0001-0004.
			phone := fmt.Sprintf("+4915112%05d7", i)
			code, slowest, ok := createMessage(ctx, client, apiAddr, phone, fmt.Sprintf("chaos-%d", i))
			mu.Lock()
			defer mu.Unlock()
			out.maxAccept = max(out.maxAccept, slowest)
			if ok {
				out.accepted = append(out.accepted, accepted{code: code, phone: phone})
			} else {
				out.notAccepted++
			}
		}()
	}
	wg.Wait()
	return out
}

func createMessage(ctx context.Context, c *http.Client, apiAddr, phone, txn string) (code string, slowest time.Duration, ok bool) {
	body, _ := json.Marshal(map[string]any{"request": map[string]any{
		"application": appCode, "auth": appToken,
		"notifications": []any{map[string]any{"send_date": "now", "content": "chaos " + txn, "devices": []string{phone},
			"use_auto_registration": true, "transactionId": txn}},
	}})
	for deadline := time.Now().Add(clientRetryFor); time.Now().Before(deadline) && ctx.Err() == nil; time.Sleep(500 * time.Millisecond) {
		start := time.Now()
		resp, err := c.Post("http://"+apiAddr+"/json/1.3/createMessage", "application/json", bytes.NewReader(body))
		slowest = max(slowest, time.Since(start))
		if err != nil {
			continue
		}
		var env struct {
			StatusCode int `json:"status_code"`
			Response   struct{ Messages []string }
		}
		err = json.NewDecoder(resp.Body).Decode(&env)
		resp.Body.Close()
		if err == nil && resp.StatusCode == http.StatusOK && env.StatusCode == 200 && len(env.Response.Messages) == 1 {
			return env.Response.Messages[0], slowest, true
		}
	}
	return "", slowest, false
}

// done says whether an SMS needs nothing more: a terminal status, or sent
// with no receipt on its way (a sent SMS whose receipt the webhook
// acknowledged should become delivered).
func done(st sms.Status, c counts) bool {
	if st == sms.Sent {
		return !c.receiptAcked
	}
	return st.Terminal() || st == sms.Unknown
}

// settle fills in the SMS ids of l.accepted (derived with the fleet's id
// key, as the fleet derived them), then polls the delivery state until
// every accepted SMS is done or timeout passes, and returns how long after
// since that took (-1: never).
func settle(ctx context.Context, f *fleet, l load, since time.Time, timeout time.Duration) time.Duration {
	rdb := redis.NewClient(&redis.Options{Addr: f.redis.addr})
	defer rdb.Close()
	st := store.New(rdb, time.Hour)
	deadline := time.Now().Add(timeout)
	ids := make([]string, len(l.accepted))
	for i := range l.accepted {
		a := &l.accepted[i]
		for a.id == "" && time.Now().Before(deadline) && ctx.Err() == nil {
			qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			id, err := st.SMSIDOf(qctx, a.code, a.phone)
			cancel()
			if err != nil { // Redis still recovering from the fault
				time.Sleep(time.Second)
				continue
			}
			a.id = id
		}
		ids[i] = a.id
	}
	for ; time.Now().Before(deadline) && ctx.Err() == nil; time.Sleep(time.Second) {
		qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		recs, err := st.GetSMSBatch(qctx, ids)
		cancel()
		if err != nil {
			continue
		}
		all := true
		for i, r := range recs {
			if r.ID == "" || !done(r.Status, f.proxy.countsOf(ids[i])) {
				all = false
				break
			}
		}
		if all {
			return time.Since(since)
		}
	}
	return -1
}
