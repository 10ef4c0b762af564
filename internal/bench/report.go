package bench

import (
	"fmt"
	"io"
	"text/tabwriter"
)

// WriteTable prints r for people.
func (r Result) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	p := func(format string, args ...any) { fmt.Fprintf(tw, format+"\n", args...) }
	p("smsfleet bench\ttarget %s, mode %s, N %d, C %d", r.Target, r.Mode, r.N, r.C)
	if r.Registered > 0 {
		p("registered\t%d devices in %.2f s\t%.0f/s", r.Registered, r.RegisterSeconds, rate(r.Registered, r.RegisterSeconds))
	}
	p("accepted\t%d of %d in %.2f s\t%.0f/s", r.Accepted, r.N, r.AcceptSeconds, r.AcceptedPerSec)
	if r.Failed > 0 {
		p("failed\t%d, first: %s", r.Failed, r.FirstFailure)
	}
	timedOut := ""
	if r.TimedOut {
		timedOut = "  (timed out)"
	}
	p("reached the provider\t%d of %d in %.2f s\t%.0f/s%s", r.Arrived, r.Accepted, r.EndToEndSeconds, r.EndToEndPerSec, timedOut)
	p("request latency\t%s", r.Request)
	p("API→provider\t%s", r.APIToProvider)
	if r.OTP != nil {
		p("OTPs during the bulk\t%d sent one at a time, %d reached the provider", r.OTP.Sent, r.OTP.Arrived)
		p("OTP request latency\t%s", r.OTP.Request)
		p("OTP API→provider\t%s", r.OTP.APIToProvider)
	}
	if c := r.Redis; c != nil {
		p("Redis %s, per SMS\t(INFO deltas over %d SMS)", c.Addr, c.SMS)
		p("  round trips\t%.2f\t(total_reads_processed)", c.RoundTrips)
		p("  commands\t%.2f\t(commandstats calls, scripts' inner commands included; %.2f script runs)", c.Commands, c.ScriptRuns)
		p("  CPU\t%.1f µs\t(used_cpu_user + used_cpu_sys)", c.CPUMicros)
		p("  command time\t%.1f µs\t(commandstats usec; scripts %.1f µs, their inner commands counted again)", c.CommandMicros, c.ScriptMicros)
		for _, t := range c.Top {
			p("    %s\t%.2f calls\t%.1f µs", t.Name, t.Calls, t.Micros)
		}
	}
	for _, n := range r.RedisNodes {
		p("  node %s\t%.2f round trips\t%.1f µs CPU\t%.2f commands per SMS", n.Addr, n.RoundTrips, n.CPUMicros, n.Commands)
	}
	return tw.Flush()
}

func (l Latency) String() string {
	if l.Count == 0 {
		return "-"
	}
	return fmt.Sprintf("p50 %.1f ms  p90 %.1f ms  p99 %.1f ms  max %.1f ms  (%d)", l.P50, l.P90, l.P99, l.Max, l.Count)
}
