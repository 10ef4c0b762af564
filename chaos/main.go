// Command chaos is smsfleet's fault-injection suite (issue 12, "Keep it
// proven"). It runs real processes per role on loopback: redis-server
// with AOF, a Kafka-protocol broker (kfake, in this process), a
// standalone `smsfleet simulator` behind a logging provider proxy, `smsfleet
// api`, two `smsfleet worker` and `smsfleet receipts`; it breaks one of them
// per scenario while sending, then prints what was accepted, lost, sent
// twice and left stuck. Run by hand, never in CI:
//
//	go run ./chaos -list
//	go run ./chaos -scenario worker-kill
//	go run ./chaos -all
//
// See docs/reliability.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

func main() {
	os.Exit(run())
}

func run() (code int) {
	var (
		name = flag.String("scenario", "", "scenario to run (comma-separated for several)")
		all  = flag.Bool("all", false, "run every scenario")
		list = flag.Bool("list", false, "list the scenarios")
		n    = flag.Int("n", 0, "SMS per scenario (0: the scenario's own)")
		keep = flag.Bool("keep", false, "keep the working directory (logs, AOF)")
	)
	flag.Parse()
	if *list || (*name == "" && !*all) {
		for _, s := range scenarios {
			fmt.Printf("%-21s n=%-5d %s\n", s.name, s.n, s.what)
		}
		if !*list {
			return 2
		}
		return 0
	}
	var chosen []scenario
	for _, s := range scenarios {
		if *all || contains(strings.Split(*name, ","), s.name) {
			chosen = append(chosen, s)
		}
	}
	if len(chosen) == 0 {
		fmt.Fprintf(os.Stderr, "chaos: no scenario %q (see -list)\n", *name)
		return 2
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	defer func() {
		if p := recover(); p != nil {
			fmt.Fprintln(os.Stderr, "chaos: panic:", p)
			code = 1
		}
		killAll()
	}()

	tmp, err := os.MkdirTemp("", "smsfleet-chaos-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		return 1
	}
	if *keep {
		fmt.Println("working directory:", tmp)
	} else {
		defer os.RemoveAll(tmp)
	}
	bin := filepath.Join(tmp, "smsfleet")
	build := exec.Command("go", "build", "-o", bin, "./cmd/smsfleet")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "chaos: go build (run from the repository root):", err)
		return 1
	}

	var rows []row
	for _, s := range chosen {
		if ctx.Err() != nil {
			break
		}
		dir := filepath.Join(tmp, s.name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			fmt.Fprintln(os.Stderr, "chaos:", err)
			return 1
		}
		fmt.Printf("== %s: %s\n", s.name, s.what)
		start := time.Now()
		r := runScenario(ctx, bin, dir, s, *n)
		rows = append(rows, r)
		fmt.Printf("   %s   (%.0f s)\n", strings.Join(r.cells(), " | "), time.Since(start).Seconds())
	}
	fmt.Println()
	printTable(os.Stdout, rows)
	return 0
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if strings.TrimSpace(x) == s {
			return true
		}
	}
	return false
}
