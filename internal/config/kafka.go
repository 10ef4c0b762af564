package config

import (
	"time"
)

// Kafka is where receipts travel.
type Kafka struct {
	// Brokers, comma-separated; empty: no receipts role.
	Brokers []string `env:"BROKERS" envSeparator:","`
}

// Receipts tunes the receipts consumer.
type Receipts struct {
	Group string `env:"GROUP" envDefault:"smsfleet-receipts"`
	// ParkTTL is how long a receipt whose SMS is not marked sent yet waits
	// for it before it is dropped.
	ParkTTL time.Duration `env:"PARK_TTL" envDefault:"1h"`
}
