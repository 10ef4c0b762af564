package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/smsfleet/smsfleet/internal/bench"
)

const benchHelp = `Drives a RUNNING fleet over HTTP as a user would and measures it: registers
the devices first (registerDevice), then -mode single sends N single-recipient
createMessage requests from C clients, -mode bulk one createMessage to N
devices, -mode otp-under-bulk the bulk plus -otps OTPs one at a time while it
drains. It counts the SMS where they arrive, at the provider simulator
(GET <-sim>/stats), and prints accepted/s, end-to-end/s (arrivals at the
provider), request and API→provider latency percentiles and, with -redis, the
fleet's Redis cost per SMS (INFO deltas). -target kannel sends Kannel's
GET /cgi-bin/sendsms with the same clients instead and counts the fake SMSC's
log (bench/kannel-peer.sh). See docs/benchmarks.md.

  smsfleet bench -url http://127.0.0.1:8080 -app APP -auth TOKEN -n 20000 -c 32 -redis 127.0.0.1:6379`

// commandFlags add a command's flags to its flag set (commands without an
// entry take none); run reads the parsed values.
var commandFlags = map[string]func(*flag.FlagSet){"bench": benchFlags}

// benchOpts are the parsed flags of `smsfleet bench`.
var (
	benchOpts bench.Options
	benchJSON bool
)

func benchFlags(fs *flag.FlagSet) {
	benchOpts, benchJSON = bench.Options{}, false
	o := &benchOpts
	fs.StringVar(&o.URL, "url", "http://127.0.0.1:8080", "the fleet's base URL (Kannel's smsbox with -target kannel)")
	fs.StringVar(&o.SimURL, "sim", "", "the provider simulator's base URL, ending /simulator (default: -url + /simulator, where smsfleet all mounts it)")
	fs.StringVar(&o.App, "app", "", "application code")
	fs.StringVar(&o.Auth, "auth", "", "the application's server token (user:password with -target kannel)")
	fs.IntVar(&o.N, "n", 1000, "SMS to send (single), or recipients of the bulk message")
	fs.IntVar(&o.C, "c", 32, "concurrent HTTP clients")
	fs.StringVar(&o.Mode, "mode", bench.ModeSingle, "single, bulk or otp-under-bulk")
	fs.IntVar(&o.OTPs, "otps", 200, "OTPs sent one at a time during the bulk (otp-under-bulk)")
	fs.DurationVar(&o.OTPGap, "otp-gap", 10*time.Millisecond, "pause between two OTPs (otp-under-bulk)")
	fs.StringVar(&o.Type, "type", "", "message_type of the single or bulk messages (default transactional)")
	fs.StringVar(&o.Redis, "redis", "", "the fleet's Redis host:port, for its cost per SMS (INFO deltas); comma-separated for a cluster's masters (the sum and each node); empty: not measured")
	fs.StringVar(&o.Prefix, "prefix", "+4915112", "number prefix (+ and 3 to 9 digits; six digits follow): use a new one per run against the same fleet")
	fs.DurationVar(&o.Timeout, "timeout", 10*time.Minute, "bound on the whole run")
	fs.StringVar(&o.Target, "target", bench.TargetSmsfleet, "smsfleet or kannel")
	fs.StringVar(&o.KannelLog, "kannel-log", "", "the fake SMSC's log file (-target kannel)")
	fs.BoolVar(&benchJSON, "json", false, "print the result as JSON")
}

func runBench(ctx context.Context, stdout io.Writer) error {
	o := benchOpts
	o.Progress = func(format string, args ...any) { fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...) }
	res, err := bench.Run(ctx, o)
	if err != nil {
		return err
	}
	if benchJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	return res.WriteTable(stdout)
}
