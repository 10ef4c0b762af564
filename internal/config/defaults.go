package config

import "github.com/caarlos0/env/v11"

// Default returns a Config with every documented default filled in: what
// an empty environment gives. The struct tags (envDefault) are the one
// place a default is written (the README's table lists them); Load starts
// from Default, and code that builds a Config (tests, benchmarks,
// embedders) starts from it too, so no caller needs fallbacks of its own.
func Default() Config {
	var c Config
	// An empty environment cannot fail to parse: every envDefault is a
	// valid value of its field (TestDefault checks it).
	if err := env.ParseWithOptions(&c, env.Options{Environment: map[string]string{}}); err != nil {
		panic("config: the documented defaults do not parse: " + err.Error())
	}
	return c
}
