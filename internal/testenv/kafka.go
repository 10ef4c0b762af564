package testenv

import (
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"
)

// Kafka is an in-process Kafka-protocol broker (kfake) on a loopback port.
// Apache Kafka cannot be installed on the machines this project is tested
// on; kfake speaks the same protocol over TCP, so the code under test uses
// its real client (kafka-go) against it.
type Kafka struct {
	Addr    string
	cluster *kfake.Cluster
}

// StartKafka starts a one-broker kfake cluster with topics created, each
// with partitions partitions.
func StartKafka(partitions int32, topics ...string) (*Kafka, error) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(partitions, topics...), kfake.AllowAutoTopicCreation())
	if err != nil {
		return nil, fmt.Errorf("testenv: kfake: %w", err)
	}
	return &Kafka{Addr: c.ListenAddrs()[0], cluster: c}, nil
}

// NewKafka starts kfake for a test and stops it at cleanup.
func NewKafka(tb testing.TB, partitions int32, topics ...string) *Kafka {
	tb.Helper()
	k, err := StartKafka(partitions, topics...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(k.Close)
	return k
}

// Close stops the broker.
func (k *Kafka) Close() { k.cluster.Close() }
