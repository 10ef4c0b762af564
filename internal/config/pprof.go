package config

import (
	"fmt"
	"net"

	"github.com/caarlos0/env/v11"
)

// Pprof is the opt-in profiling endpoint: every role serves net/http/pprof
// on Addr, a listener of its own (never the public one), while it runs.
type Pprof struct {
	// Addr is SMSFLEET_PPROF_ADDR (empty: no profiling endpoint). Keep it
	// on loopback: profiles show the code paths and the command line.
	Addr string `env:"PPROF_ADDR"`
}

// LoadPprof reads only SMSFLEET_PPROF_ADDR, so every role (the standalone
// simulator and the monitor too, which load less than the fleet) serves
// profiles the same way. It refuses an address that is not host:port or
// that is SMSFLEET_HTTP_ADDR, where the role's public listener goes.
func LoadPprof() (Pprof, error) {
	var v struct {
		Pprof
		HTTPAddr string `env:"HTTP_ADDR" envDefault:"127.0.0.1:8080"`
	}
	if err := env.ParseWithOptions(&v, env.Options{Prefix: envPrefix}); err != nil {
		return Pprof{}, fmt.Errorf("config: %w", err)
	}
	if v.Addr == "" {
		return Pprof{}, nil
	}
	_, port, err := net.SplitHostPort(v.Addr)
	if err != nil {
		return Pprof{}, fmt.Errorf("config: SMSFLEET_PPROF_ADDR %q: want host:port, e.g. 127.0.0.1:6060: %w", v.Addr, err)
	}
	// Port 0 picks a free port for each listener, so they differ anyway.
	if v.Addr == v.HTTPAddr && port != "0" {
		return Pprof{}, fmt.Errorf("config: SMSFLEET_PPROF_ADDR must differ from SMSFLEET_HTTP_ADDR (%s): profiles never go on the public listener", v.HTTPAddr)
	}
	return v.Pprof, nil
}
