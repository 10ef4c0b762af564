package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/smsfleet/smsfleet/internal/sms"
)

// row is one scenario's result line.
type row struct {
	scenario    string
	accepted    int
	notAccepted int // the client gave up: never accepted, so not "lost"
	lost        int // accepted, then gone or non-terminal with nothing left to move it
	dupProvider int // keys sent by more than one provider (summed over providers)
	wouldBeDup  int // keys the simulator accepted more than once (replays included)
	stuck       int // non-terminal after the settle time, with a task or outbox entry pending
	rcptLost    int // sent, its receipt acknowledged by the webhook, never applied
	failed      int // accepted and failed or expired (not lost, but not sent)
	maxAccept   time.Duration
	recovery    time.Duration // from the fault's end until every SMS was done; -1 never
	err         string
}

var header = []string{"scenario", "accepted", "not accepted", "lost", "dup@provider", "would-be dup", "stuck", "receipts lost", "failed", "slowest API call", "recovery"}

func (r row) cells() []string {
	rec := "—"
	if r.recovery > 0 {
		rec = fmt.Sprintf("%.0f s", r.recovery.Seconds())
	} else if r.recovery < 0 {
		rec = "not within settle"
	}
	if r.err != "" {
		return []string{r.scenario, "error: " + r.err}
	}
	return []string{r.scenario, fmt.Sprint(r.accepted), fmt.Sprint(r.notAccepted), fmt.Sprint(r.lost), fmt.Sprint(r.dupProvider),
		fmt.Sprint(r.wouldBeDup), fmt.Sprint(r.stuck), fmt.Sprint(r.rcptLost), fmt.Sprint(r.failed),
		fmt.Sprintf("%.1f s", r.maxAccept.Seconds()), rec}
}

// printTable writes rows as a Markdown table.
func printTable(w io.Writer, rows []row) {
	fmt.Fprintln(w, "| "+strings.Join(header, " | ")+" |")
	fmt.Fprintln(w, "|"+strings.Repeat("---|", len(header)))
	for _, r := range rows {
		fmt.Fprintln(w, "| "+strings.Join(r.cells(), " | ")+" |")
	}
}

// judge classifies every accepted SMS through the API (GET
// /api/v1/messages/{code}) and the proxy's counts.
func judge(ctx context.Context, f *fleet, l load) row {
	r := row{accepted: len(l.accepted), notAccepted: l.notAccepted, maxAccept: l.maxAccept}
	rdb := redis.NewClient(&redis.Options{Addr: f.redis.addr})
	defer rdb.Close()
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	client := &http.Client{Timeout: 10 * time.Second}
	for _, a := range l.accepted {
		c := f.proxy.countsOf(a.id)
		if c.delivered > 1 {
			r.dupProvider++
		}
		if c.accepted > 1 {
			r.wouldBeDup++
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			st, found := statusOf(ctx, client, f.apiAddr, a)
			// The proxy posts receipts asynchronously: one acknowledged
			// after settle looked is given the consumer's time to apply
			// it before it counts as lost.
			for i := 0; found && st == sms.Sent && c.receiptAcked && i < 30; i++ {
				time.Sleep(time.Second)
				st, found = statusOf(ctx, client, f.apiAddr, a)
			}
			mu.Lock()
			defer mu.Unlock()
			switch {
			case !found:
				r.lost++ // the message is gone: whatever the provider got has no record
			case st == sms.Failed || st == sms.Expired:
				r.failed++
			case st == sms.Sent && c.receiptAcked:
				r.rcptLost++
			case done(st, c):
			case pending(ctx, rdb, a):
				r.stuck++
			default:
				r.lost++
			}
		}()
	}
	wg.Wait()
	return r
}

// statusOf reads one SMS's status through the native API; found is false
// for a 404 (the message vanished). Transient errors are retried.
func statusOf(ctx context.Context, c *http.Client, apiAddr string, a accepted) (sms.Status, bool) {
	for range 10 {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+apiAddr+"/api/v1/messages/"+a.code, nil)
		req.Header.Set("Authorization", "Token "+appToken)
		resp, err := c.Do(req)
		if err != nil {
			time.Sleep(time.Second)
			continue
		}
		var v struct {
			Recipients []struct{ ID, Status string }
		}
		_ = json.NewDecoder(resp.Body).Decode(&v)
		resp.Body.Close()
		switch {
		case resp.StatusCode == http.StatusNotFound:
			return "", false
		case resp.StatusCode != http.StatusOK:
			time.Sleep(time.Second)
			continue
		}
		for _, rc := range v.Recipients {
			if rc.ID == a.id {
				return sms.Status(rc.Status), true
			}
		}
		return "", false // the message without its SMS record
	}
	return "", true // unreadable: counted by its task below
}

// pending says whether something will still move a non-terminal SMS: its
// asynq task in a lane (in any shard of it: every queue asynq lists whose
// lane is a lane, whatever SMSFLEET_LANE_SHARDS the fleet ran with), or
// its message in the intake's outbox.
func pending(ctx context.Context, rdb *redis.Client, a accepted) bool {
	queues, _ := rdb.SMembers(ctx, "asynq:queues").Result()
	for _, q := range queues {
		id := a.id
		switch sms.LaneOf(q) {
		case sms.DispatchLane:
			id = a.code
		case string(sms.OTP), string(sms.Transactional), string(sms.Marketing):
		default:
			continue
		}
		if n, _ := rdb.Exists(ctx, "asynq:{"+q+"}:t:"+id).Result(); n > 0 {
			return true
		}
	}
	_, err := rdb.ZScore(ctx, "sf:outbox", a.code).Result()
	return err == nil
}
