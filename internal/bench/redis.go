package bench

import (
	"bufio"
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// RedisCost is what the fleet's Redis did per SMS over the run, from INFO
// deltas taken just before the first send and after the last arrival. It
// includes whatever else used that Redis meanwhile (the workers' idle
// polling, other clients).
type RedisCost struct {
	Addr string `json:"addr"`
	SMS  int    `json:"sms"`
	// RoundTrips is read events per SMS (INFO stats total_reads_processed):
	// one per request or pipeline a client sent, however many commands it
	// held.
	RoundTrips float64 `json:"round_trips_per_sms"`
	// Commands is commands per SMS (INFO commandstats calls), counting
	// those a script ran as well as the script itself.
	Commands float64 `json:"commands_per_sms"`
	// ScriptRuns is EVAL/EVALSHA/FCALL calls per SMS.
	ScriptRuns float64 `json:"script_runs_per_sms"`
	// CPUMicros is Redis's CPU time (user + system, INFO cpu) per SMS.
	CPUMicros float64 `json:"cpu_us_per_sms"`
	// CommandMicros is commandstats usec per SMS over every command. A
	// script's usec includes the commands it ran, which are listed under
	// their own names too, so scripted work counts twice here;
	// ScriptMicros is the scripts' part alone.
	CommandMicros float64 `json:"command_us_per_sms"`
	ScriptMicros  float64 `json:"script_us_per_sms"`
	// Top are the commands with the most usec.
	Top []CommandCost `json:"top"`
}

// CommandCost is one command's share per SMS.
type CommandCost struct {
	Name   string  `json:"name"`
	Calls  float64 `json:"calls_per_sms"`
	Micros float64 `json:"us_per_sms"`
}

// redisCounter snapshots INFO of every node before the run: one address
// for a standalone Redis, each master's for a cluster (issue 15), so the
// cost is the fleet's whole Redis and each node's share of it.
type redisCounter struct {
	nodes []*nodeCounter
}

// nodeCounter is one node's client and its first snapshot.
type nodeCounter struct {
	rdb    *redis.Client
	addr   string
	before info
}

type cmdStat struct{ calls, usec int64 }

type info struct {
	cmds  map[string]cmdStat
	reads int64
	cpu   float64 // seconds
}

// startRedis snapshots every address of addrs (comma-separated).
func startRedis(ctx context.Context, addrs string) (*redisCounter, error) {
	c := &redisCounter{}
	for _, addr := range strings.Split(addrs, ",") {
		addr = strings.TrimSpace(addr)
		rdb := redis.NewClient(&redis.Options{Addr: addr, PoolSize: 1})
		before, err := readInfo(ctx, rdb)
		if err != nil {
			_ = rdb.Close()
			c.close()
			return nil, fmt.Errorf("-redis %s: %w", addr, err)
		}
		c.nodes = append(c.nodes, &nodeCounter{rdb: rdb, addr: addr, before: before})
	}
	return c, nil
}

func (c *redisCounter) close() {
	for _, n := range c.nodes {
		_ = n.rdb.Close()
	}
}

// finish returns the cost over all nodes and, with more than one node,
// each node's.
func (c *redisCounter) finish(ctx context.Context, sms int) (RedisCost, []RedisCost, error) {
	var (
		addrs         []string
		before, after = info{cmds: map[string]cmdStat{}}, info{cmds: map[string]cmdStat{}}
		nodes         []RedisCost
	)
	for _, n := range c.nodes {
		a, err := readInfo(ctx, n.rdb)
		if err != nil {
			return RedisCost{}, nil, fmt.Errorf("-redis %s: %w", n.addr, err)
		}
		nodes = append(nodes, cost(n.addr, sms, n.before, a, 1))
		before.add(n.before)
		after.add(a)
		addrs = append(addrs, n.addr)
	}
	total := cost(strings.Join(addrs, ","), sms, before, after, len(c.nodes))
	if len(nodes) == 1 {
		nodes = nil
	}
	return total, nodes, nil
}

// add sums another node's counters into in.
func (in *info) add(o info) {
	for name, st := range o.cmds {
		cur := in.cmds[name]
		in.cmds[name] = cmdStat{calls: cur.calls + st.calls, usec: cur.usec + st.usec}
	}
	in.reads += o.reads
	in.cpu += o.cpu
}

// scripts are the commands that run a script; the commands a script runs
// are counted under their own names too.
var scripts = map[string]bool{"eval": true, "evalsha": true, "eval_ro": true, "evalsha_ro": true, "fcall": true, "fcall_ro": true}

// cost divides the deltas between two snapshots (of infos nodes, summed)
// by sms.
func cost(addr string, sms int, before, after info, infos int) RedisCost {
	cost := RedisCost{Addr: addr, SMS: sms}
	if sms == 0 {
		return cost
	}
	per := func(v float64) float64 { return round2(v / float64(sms)) }
	// The bench's own INFO call is one read and one command per node;
	// leave it out.
	cost.RoundTrips = per(float64(after.reads - before.reads - int64(infos)))
	cost.CPUMicros = per((after.cpu - before.cpu) * 1e6)
	var calls, usec, scriptCalls, scriptUsec int64
	for name, a := range after.cmds {
		if name == "info" {
			continue
		}
		b := before.cmds[name]
		d := cmdStat{calls: a.calls - b.calls, usec: a.usec - b.usec}
		if d.calls <= 0 {
			continue
		}
		calls += d.calls
		usec += d.usec
		if scripts[name] {
			scriptCalls += d.calls
			scriptUsec += d.usec
		}
		cost.Top = append(cost.Top, CommandCost{Name: name, Calls: per(float64(d.calls)), Micros: per(float64(d.usec))})
	}
	cost.Commands, cost.CommandMicros = per(float64(calls)), per(float64(usec))
	cost.ScriptRuns, cost.ScriptMicros = per(float64(scriptCalls)), per(float64(scriptUsec))
	sort.Slice(cost.Top, func(i, j int) bool { return cost.Top[i].Micros > cost.Top[j].Micros })
	if len(cost.Top) > 8 {
		cost.Top = cost.Top[:8]
	}
	return cost
}

// readInfo reads INFO commandstats, stats and cpu.
func readInfo(ctx context.Context, rdb *redis.Client) (info, error) {
	raw, err := rdb.Info(ctx, "commandstats", "stats", "cpu").Result()
	if err != nil {
		return info{}, fmt.Errorf("INFO: %w", err)
	}
	in := info{cmds: map[string]cmdStat{}}
	sc := bufio.NewScanner(strings.NewReader(raw))
	for sc.Scan() {
		key, val, ok := strings.Cut(strings.TrimSpace(sc.Text()), ":")
		if !ok {
			continue
		}
		switch {
		case strings.HasPrefix(key, "cmdstat_"):
			var st cmdStat
			for _, kv := range strings.Split(val, ",") {
				k, v, _ := strings.Cut(kv, "=")
				switch k {
				case "calls":
					st.calls, _ = strconv.ParseInt(v, 10, 64)
				case "usec":
					st.usec, _ = strconv.ParseInt(v, 10, 64)
				}
			}
			in.cmds[strings.TrimPrefix(key, "cmdstat_")] = st
		case key == "total_reads_processed":
			in.reads, _ = strconv.ParseInt(val, 10, 64)
		case key == "used_cpu_user" || key == "used_cpu_sys":
			f, _ := strconv.ParseFloat(val, 64)
			in.cpu += f
		}
	}
	return in, nil
}

func round2(v float64) float64 {
	f, _ := strconv.ParseFloat(strconv.FormatFloat(v, 'f', 2, 64), 64)
	return f
}
