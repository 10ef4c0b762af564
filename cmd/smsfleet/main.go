// Command smsfleet is the one binary of the SMS delivery fleet; each
// subcommand is a role (see `smsfleet --help`).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/smsfleet/smsfleet/internal/fleet"
	"github.com/smsfleet/smsfleet/internal/metrics"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

type command struct {
	name, summary, help string
	run                 func(ctx context.Context, stdout io.Writer) error
}

var commands = []command{
	{"dev", "every role in one process with embedded Redis and the provider simulator; no set-up", devHelp, runDev},
	{"all", "every role in one process against the configured Redis", allHelp, runRoles(true, true)},
	{"api", "the intake API (Pushwoosh-compatible /json/1.3 and native /api/v1)", apiHelp, runRoles(true, false)},
	{"worker", "the asynq worker: fan-out of scheduled and bulk messages, and sends", workerHelp, runRoles(false, true)},
	{"receipts", "delivery-receipt webhooks into Kafka, and the consumer that applies them", receiptsHelp, runFleet(fleet.Roles{Receipts: true}, false)},
	{"monitor", "the Asynq web monitor for on-call (/monitoring/) and asynq queue metrics", monitorHelp, runMonitor},
	{"simulator", "a provider simulator speaking the Twilio-style API, with faults set at run time", simulatorHelp, runSimulator},
	{"bench", "load a running fleet (or Kannel) over HTTP and measure its throughput and latency", benchHelp, runBench},
	{"version", "print the version", "Prints the version of this binary.", func(_ context.Context, w io.Writer) error {
		_, err := fmt.Fprintln(w, "smsfleet", version)
		return err
	}},
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	metrics.SetVersion(version) // smsfleet_build_info{version}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range commands {
		if c.name != args[0] {
			continue
		}
		fs := flag.NewFlagSet("smsfleet "+c.name, flag.ContinueOnError)
		fs.SetOutput(stderr)
		fs.Usage = func() {
			fmt.Fprintf(stdout, "Usage: smsfleet %s\n\n%s\n\nConfiguration comes from SMSFLEET_* environment variables; see README.md.\n", c.name, c.help)
		}
		if add := commandFlags[c.name]; add != nil { // bench.go
			add(fs)
			fs.Usage = func() {
				fmt.Fprintf(stdout, "Usage: smsfleet %s [flags]\n\n%s\n\nFlags:\n", c.name, c.help)
				fs.SetOutput(stdout)
				fs.PrintDefaults()
			}
		}
		if err := fs.Parse(args[1:]); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return 0
			}
			return 2
		}
		if fs.NArg() > 0 {
			fmt.Fprintf(stderr, "smsfleet %s: unexpected argument %q\n", c.name, fs.Arg(0))
			return 2
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		if err := withPprof(ctx, c.name, stderr, func(ctx context.Context) error { return c.run(ctx, stdout) }); err != nil {
			fmt.Fprintf(stderr, "smsfleet %s: %v\n", c.name, err)
			return 1
		}
		return 0
	}
	fmt.Fprintf(stderr, "smsfleet: unknown command %q\n\n", args[0])
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "smsfleet: queue-based SMS delivery fleet")
	fmt.Fprintln(w, "\nUsage: smsfleet <command> [--help]\n\nCommands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
}
