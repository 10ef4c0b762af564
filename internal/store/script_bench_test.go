package store

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/smsfleet/smsfleet/internal/sms"
	"github.com/smsfleet/smsfleet/internal/testenv"
)

// BenchmarkSendPathScripts measures what each store step of a single send
// costs Redis: b.N direct messages go through create, load, begin and
// mark sent one step at a time, and each step reports the EVALSHA time
// redis-server spent on it (INFO commandstats, scripts' inner commands
// included) and the commands its scripts ran, per SMS. Redis runs scripts
// on one thread, so this is the part of the send path that does not scale
// with worker processes (docs/benchmarks.md, "Where the time goes").
//
// It also reports each step's Redis CPU per SMS (INFO cpu, user and
// system: the scripts, the plain commands beside them and the network
// work), which is comparable across key layouts: the tagged one splits
// steps into one script per slot, moving work out of scripts.
//
//	go test -run '^$' -bench BenchmarkSendPathScripts -benchtime 20000x ./internal/store/
func BenchmarkSendPathScripts(b *testing.B) {
	for _, l := range []Layout{PlainLayout, {Tagged: true, Partitions: 16}} {
		b.Run(l.String(), func(b *testing.B) { benchSendPath(b, l) })
	}
}

func benchSendPath(b *testing.B, l Layout) {
	r := testenv.NewRedis(b)
	ctx := context.Background()
	rdb := r.Client(b)
	now := time.Now()
	s := New(rdb, 24*time.Hour, WithClock(func() time.Time { return now }), WithLayout(l))
	if err := s.LoadScripts(ctx); err != nil {
		b.Fatal(err)
	}
	const app = "SHOP1-00001"
	n := b.N
	phone := func(i int) string { return fmt.Sprintf("+49151%08d", i) }
	if err := s.RegisterDevices(ctx, app, func() []string {
		out := make([]string, n)
		for i := range out {
			out[i] = phone(i)
		}
		return out
	}()); err != nil {
		b.Fatal(err)
	}
	ids := make([]string, n)
	loaded := make([]Loaded, n)
	steps := []struct {
		name string
		run  func(i int) error
	}{
		{"create", func(i int) error {
			m := &Message{App: app, Code: fmt.Sprintf("BNCH-00000000-%08d", i), Type: sms.Transactional, Content: `"Your code is 1234"`,
				Sender: "SHOP", SendAt: now, Validity: time.Hour, Direct: true, ChunkSize: 1000, DeliveryWait: time.Hour}
			if _, _, err := s.CreateMessage(ctx, m, []Audience{{Zone: "UTC", SendAt: now, Phones: []string{phone(i)}}}); err != nil {
				return err
			}
			ids[i] = MustSMSID(b, s, m.Code, phone(i))
			return nil
		}},
		{"load", func(i int) error {
			ls, err := s.LoadBatch(ctx, []SMSRef{{ID: ids[i], App: app, Phone: phone(i)}})
			if err == nil {
				loaded[i] = ls[0]
				loaded[i].Attempting = "sim"
			}
			return err
		}},
		{"begin", func(i int) error {
			_, err := s.BeginBatch(ctx, loaded[i:i+1])
			return err
		}},
		{"sent", func(i int) error {
			_, err := s.MarkSent(ctx, ids[i], Outcome{Provider: "sim", ProviderRef: "ref-" + strconv.Itoa(i), Segments: 1, Encoding: "GSM", Operator: "DE:X",
				Attempts: []Attempt{{Provider: "sim", At: now, Outcome: "sent"}}})
			return err
		}},
	}
	b.ResetTimer()
	var total, totalCPU float64
	for _, st := range steps {
		before := scriptStats(ctx, b, rdb)
		cpu0 := redisCPU(ctx, b, rdb)
		for i := range n {
			if err := st.run(i); err != nil {
				b.Fatalf("%s %d: %v", st.name, i, err)
			}
		}
		cpu := (redisCPU(ctx, b, rdb) - cpu0) / float64(n)
		after := scriptStats(ctx, b, rdb)
		us := (after["evalsha"][1] - before["evalsha"][1]) / float64(n)
		var cmds float64
		for name, v := range after {
			if name != "evalsha" {
				cmds += v[0] - before[name][0]
			}
		}
		total, totalCPU = total+us, totalCPU+cpu
		b.ReportMetric(us, st.name+"-µs/sms")
		b.ReportMetric(cpu, st.name+"-cpu-µs/sms")
		b.ReportMetric(cmds/float64(n), st.name+"-cmds/sms")
	}
	b.ReportMetric(total, "scripts-µs/sms")
	b.ReportMetric(totalCPU, "redis-cpu-µs/sms")
}

// redisCPU is the CPU redis-server used so far (INFO cpu, user + system),
// in µs.
func redisCPU(ctx context.Context, b *testing.B, rdb *redis.Client) float64 {
	info, err := rdb.Info(ctx, "cpu").Result()
	if err != nil {
		b.Fatal(err)
	}
	var total float64
	for _, l := range strings.Split(info, "\n") {
		k, v, _ := strings.Cut(strings.TrimSpace(l), ":")
		if k == "used_cpu_user" || k == "used_cpu_sys" {
			f, _ := strconv.ParseFloat(v, 64)
			total += f * 1e6
		}
	}
	return total
}

// scriptStats reads INFO commandstats: calls and usec by command. The
// non-script commands are those the scripts ran (the steps send no others
// but EVALSHA, bar a first EVAL or SCRIPT LOAD, which are left out).
func scriptStats(ctx context.Context, b *testing.B, rdb *redis.Client) map[string][2]float64 {
	info, err := rdb.Info(ctx, "commandstats").Result()
	if err != nil {
		b.Fatal(err)
	}
	out := map[string][2]float64{}
	for _, l := range strings.Split(info, "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(l), ":")
		name, found := strings.CutPrefix(name, "cmdstat_")
		if !ok || !found || name == "info" || name == "eval" || strings.HasPrefix(name, "script") {
			continue
		}
		var v [2]float64
		for _, kv := range strings.Split(rest, ",") {
			k, val, _ := strings.Cut(kv, "=")
			f, _ := strconv.ParseFloat(val, 64)
			switch k {
			case "calls":
				v[0] = f
			case "usec":
				v[1] = f
			}
		}
		out[name] = v
	}
	return out
}
