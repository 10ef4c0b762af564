package inbound

import (
	"time"

	"go.uber.org/zap"

	"github.com/smsfleet/smsfleet/internal/provider"
	"github.com/smsfleet/smsfleet/internal/store"
)

// testOpts build a webhook that applies each reply directly (no Kafka)
// with an Applier on OptOuts: the keyword tests' setup.
type testOpts struct {
	Sources               []provider.Source
	OptOuts               *store.Store
	StopWords, StartWords []string
	Apps                  func(string) []string
	DefaultRegion         string
	Log                   *zap.Logger
	Replays               provider.Replays
	Now                   func() time.Time
}

func newTestInbound(o testOpts) *Inbound {
	a := &Applier{Store: o.OptOuts, Apps: o.Apps, Keywords: NewKeywords(o.StopWords, o.StartWords, nil), Log: o.Log}
	return NewInbound(InboundOptions{Sources: o.Sources, Land: a.Apply, DefaultRegion: o.DefaultRegion, Log: o.Log, Replays: o.Replays, Now: o.Now})
}
