package worker

import (
	"github.com/nyaruka/phonenumbers/v2"

	"github.com/smsfleet/smsfleet/internal/metrics"
	"github.com/smsfleet/smsfleet/internal/store"
)

// price gives o, an acceptance by o.Provider, its cost: segments × the
// provider's price to the SMS's country (config.Prices). Without a price
// for that provider and country the cost stays unknown (o.Priced false).
func (s *Sender) price(it *item, o *store.Outcome) {
	if s.Prices == nil || o.Provider == "" {
		return
	}
	p, ok := s.Prices.Of(o.Provider, countryOf(it))
	if !ok {
		return
	}
	o.Cost, o.Priced = int64(p)*int64(max(o.Segments, 1)), true
}

// countCost counts a recorded acceptance's cost in metrics.
func countCost(it *item, o store.Outcome) {
	if o.Priced {
		metrics.Cost.WithLabelValues(o.Provider, countryOf(it)).Add(float64(o.Cost) / 1e6)
	}
}

// countryOf is the SMS's destination country (ISO 3166-1 alpha-2): the
// rate limiter's operator lookup when it ran, else libphonenumber's
// region of the number ("" when unknown).
func countryOf(it *item) string {
	if it.op.Country != "" {
		return it.op.Country
	}
	num, err := phonenumbers.Parse(it.l.To, "")
	if err != nil {
		return ""
	}
	return phonenumbers.GetRegionCodeForNumber(num)
}
