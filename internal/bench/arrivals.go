package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/smsfleet/smsfleet/internal/simulator"
)

// arrivalCounter counts a run's SMS where they arrive.
type arrivalCounter interface {
	// count is how many arrived so far, and when the last did.
	count(ctx context.Context) (int, time.Time, error)
	// times is when each number's SMS arrived (at most limit).
	times(ctx context.Context, limit int) (map[string]time.Time, error)
}

// simCounter asks the provider simulator (GET /simulator/stats), which
// stamps each SMS when it accepts it.
type simCounter struct {
	r      *runner
	prefix string
	since  time.Time
}

func (s *simCounter) get(ctx context.Context, arrivals int) (simulator.Stats, error) {
	q := url.Values{"prefix": {s.prefix}, "since": {s.since.UTC().Format(time.RFC3339Nano)}}
	if arrivals > 0 {
		q.Set("arrivals", "true")
		q.Set("limit", strconv.Itoa(arrivals))
	}
	var st simulator.Stats
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(s.r.o.SimURL, "/")+"/stats?"+q.Encode(), nil)
	if err != nil {
		return st, err
	}
	resp, err := s.r.client.Do(req)
	if err != nil {
		return st, fmt.Errorf("simulator stats: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return st, fmt.Errorf("simulator stats at %s: HTTP %d: %s (is -sim the simulator's /simulator base?)", s.r.o.SimURL, resp.StatusCode, raw)
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		return st, fmt.Errorf("simulator stats: %w", err)
	}
	return st, nil
}

func (s *simCounter) count(ctx context.Context) (int, time.Time, error) {
	st, err := s.get(ctx, 0)
	if err != nil || st.Last == nil {
		return st.Matched, time.Time{}, err
	}
	return st.Matched, *st.Last, nil
}

func (s *simCounter) times(ctx context.Context, limit int) (map[string]time.Time, error) {
	st, err := s.get(ctx, limit)
	if err != nil {
		return nil, err
	}
	out := make(map[string]time.Time, len(st.Arrivals))
	for _, a := range st.Arrivals {
		// Newest first: the earliest arrival of a number wins.
		out[a.To] = a.At
	}
	return out, nil
}

// kannelTail follows the fake SMSC's log, in which it writes a line per
// SMS it gets ("Got message 7: <bench 4915112000007 text ...>"), and
// stamps each of the run's numbers when its line appears. The stamp is
// when the bench read the line (it polls every few milliseconds), so
// Kannel's latencies are coarse; its rates are not affected beyond that.
type kannelTail struct {
	mu     sync.Mutex
	seen   map[string]time.Time
	last   time.Time
	stop   context.CancelFunc
	done   chan struct{}
	digits string
}

// number finds a number (an optional + and 8 to 15 digits) in a line.
var number = regexp.MustCompile(`\+?\d{8,15}`)

func tailKannel(ctx context.Context, path, prefix string) (*kannelTail, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("-kannel-log: %w", err)
	}
	// Only what the fake SMSC writes from now on is this run's.
	if _, err := f.Seek(0, io.SeekEnd); err != nil {
		f.Close()
		return nil, fmt.Errorf("-kannel-log: %w", err)
	}
	ctx, stop := context.WithCancel(ctx)
	k := &kannelTail{seen: map[string]time.Time{}, stop: stop, done: make(chan struct{}), digits: strings.TrimPrefix(prefix, "+")}
	go func() {
		defer close(k.done)
		defer f.Close()
		br := bufio.NewReaderSize(f, 1<<16)
		var partial string
		for {
			line, err := br.ReadString('\n')
			if err == nil {
				k.line(partial+line, time.Now())
				partial = ""
				continue
			}
			partial += line // the rest of the line is not written yet
			select {
			case <-ctx.Done():
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	}()
	return k, nil
}

func (k *kannelTail) line(l string, now time.Time) {
	if !strings.Contains(l, "Got message") {
		return
	}
	for _, m := range number.FindAllString(l, -1) {
		d := strings.TrimPrefix(m, "+")
		if !strings.HasPrefix(d, k.digits) {
			continue
		}
		k.mu.Lock()
		if _, ok := k.seen["+"+d]; !ok {
			k.seen["+"+d] = now
			k.last = now
		}
		k.mu.Unlock()
		return
	}
}

func (k *kannelTail) count(context.Context) (int, time.Time, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.seen), k.last, nil
}

func (k *kannelTail) times(context.Context, int) (map[string]time.Time, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	out := make(map[string]time.Time, len(k.seen))
	for ph, t := range k.seen {
		out[ph] = t
	}
	return out, nil
}

func (k *kannelTail) close() {
	k.stop()
	<-k.done
}

func sortDurations(d []time.Duration) { slices.Sort(d) }
