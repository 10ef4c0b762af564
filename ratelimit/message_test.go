package ratelimit

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/smsfleet/smsfleet/internal/testenv"
)

// TestMessageRateSpacesAMessagesSMS: send_rate is SMS per second for one
// message (Pushwoosh's createMessage "send_rate": "Throttling. Valid
// values are from 100 to 1000 pushes/second", docs.pushwoosh.com/docs/createmessage
// as quoted in gomoob/php-pushwoosh#39). Two workers (two limiters on one
// Redis, as two pods) offer every SMS of a 30-recipient message at rate
// 100 at each millisecond of an injected clock: they go out at least
// 10 ms apart, so no 100 ms window holds more than 10 of them and the
// 30th leaves 290 ms after the first; another message at 1000 per second,
// offered at the same ticks, keeps its own pace (1 ms apart) throughout.
func TestMessageRateSpacesAMessagesSMS(t *testing.T) {
	r := testenv.NewRedis(t)
	clock := testenv.NewClock(time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC))
	workers := []*MessageRates{NewMessageRates(r.Client(t), "", clock.Now), NewMessageRates(r.Client(t), "", clock.Now)}
	ctx := context.Background()
	type msg struct {
		code string
		rate int
		sent []time.Time
	}
	slow, fast := &msg{code: "SLOW-00000000-00000001", rate: 100}, &msg{code: "FAST-00000000-00000002", rate: 1000}
	start := clock.Now()
	for tick := 0; tick < 1000 && (len(slow.sent) < 30 || len(fast.sent) < 30); tick++ {
		for _, m := range []*msg{slow, fast} {
			for _, w := range workers {
				if len(m.sent) == 30 {
					break
				}
				d, err := w.Allow(ctx, m.code, m.rate)
				if err != nil {
					t.Fatal(err)
				}
				if d.Allowed {
					m.sent = append(m.sent, clock.Now())
				} else if d.RetryAfter <= 0 || d.RetryAfter > time.Second/time.Duration(m.rate) {
					t.Fatalf("%s denied with a wait of %v", m.code, d.RetryAfter)
				}
			}
		}
		clock.Advance(time.Millisecond)
	}
	for _, m := range []*msg{slow, fast} {
		if len(m.sent) != 30 {
			t.Fatalf("%s: %d of 30 SMS sent", m.code, len(m.sent))
		}
		gap := time.Second / time.Duration(m.rate)
		for i := 1; i < len(m.sent); i++ {
			if d := m.sent[i].Sub(m.sent[i-1]); d < gap {
				t.Fatalf("%s: SMS %d left %v after the one before, less than 1/%d s", m.code, i, d, m.rate)
			}
		}
		perWindow := map[int64]int{}
		for _, at := range m.sent {
			perWindow[at.Sub(start).Milliseconds()/100]++
		}
		for w, n := range perWindow {
			if limit := m.rate / 10; n > limit {
				t.Fatalf("%s: %d SMS in the 100 ms window %d, more than %d", m.code, n, w, limit)
			}
		}
	}
	if got := slow.sent[29].Sub(slow.sent[0]); got != 290*time.Millisecond {
		t.Fatalf("the slow message's 30 SMS took %v on the clock, want 290ms", got)
	}
	if got := fast.sent[29].Sub(fast.sent[0]); got != 29*time.Millisecond {
		t.Fatalf("the fast message's 30 SMS took %v beside the slow one, want 29ms (its own pace)", got)
	}
}

// TestMessageRateRefusesBadInput: a message without a code or a rate
// below one is an error, before Redis is asked.
func TestMessageRateRefusesBadInput(t *testing.T) {
	m := NewMessageRates(nil, "", nil)
	for _, tt := range []struct {
		code string
		rate int
	}{{"", 100}, {"CODE-00000000-00000001", 0}, {"CODE-00000000-00000001", -5}} {
		if _, err := m.Allow(context.Background(), tt.code, tt.rate); !errors.Is(err, ErrInvalid) {
			t.Errorf("Allow(%q, %d) = %v, want ErrInvalid", tt.code, tt.rate, err)
		}
	}
}

// TestMessageRateKeyExpires: the message's key lives only until its next
// SMS is due (Redis server time here: no injected clock).
func TestMessageRateKeyExpires(t *testing.T) {
	r := testenv.NewRedis(t)
	rdb := r.Client(t)
	m := NewMessageRates(rdb, "", nil)
	ctx := context.Background()
	if d, err := m.Allow(ctx, "TTL0-00000000-00000001", 1); err != nil || !d.Allowed {
		t.Fatalf("first SMS: %+v %v", d, err)
	}
	ttl, err := rdb.PTTL(ctx, DefaultPrefix+"msg:{TTL0-00000000-00000001}").Result()
	if err != nil || ttl <= 0 || ttl > time.Second {
		t.Fatalf("key TTL %v (%v), want at most the second to the next SMS", ttl, err)
	}
}
