package config

import (
	"fmt"

	"github.com/smsfleet/smsfleet/internal/provider"
)

// SimulatorInProcess is SMSFLEET_SIMULATOR's one value: the provider
// simulator runs in the process and is mounted at /simulator/.
const SimulatorInProcess = "inprocess"

// noProvider names every way to give a fleet something to send through.
const noProvider = "set providers: in the SMSFLEET_CONFIG file, or SMSFLEET_SIMULATOR_URL to a running `smsfleet simulator`, or SMSFLEET_SIMULATOR=inprocess for a test fleet"

// InProcessSimulator reports whether SMSFLEET_SIMULATOR asks for the
// in-process simulator.
func (c Config) InProcessSimulator() bool { return c.Simulator == SimulatorInProcess }

// RequireProvider checks that a role that sends (all, worker) has
// somewhere to send: configured providers, a standalone simulator, or the
// in-process one asked for explicitly. A fleet with none used to send
// through an unauthenticated in-process simulator that anyone could read
// every number and text from; it now refuses to start instead.
func (c Config) RequireProvider() error {
	if c.InProcessSimulator() {
		return nil
	}
	if len(c.Providers) == 0 && c.SimulatorURL == "" {
		return fmt.Errorf("config: no provider configured: %s", noProvider)
	}
	for _, p := range c.Providers {
		if p.Kind == provider.KindSimulator && p.URL == "" && c.SimulatorURL == "" {
			return fmt.Errorf("config: SMSFLEET_CONFIG provider %s is a simulator without a url: set its url, or SMSFLEET_SIMULATOR_URL, or SMSFLEET_SIMULATOR=inprocess for a test fleet", p.Name)
		}
	}
	return nil
}
