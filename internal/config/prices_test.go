package config

import (
	"strings"
	"testing"

	"github.com/smsfleet/smsfleet/internal/provider"
)

// TestPrices: a price table is read into exact millionths and looked up by
// country, else "*"; each bad table stops start-up naming its field.
func TestPrices(t *testing.T) {
	c := Default()
	c.SimulatorSecret = "s"
	c.Providers = []provider.Config{{Name: "sim-a", Kind: provider.KindSimulator}, {Name: "sim-b", Kind: provider.KindSimulator}}
	c.Prices = Prices{Currency: "EUR", Providers: map[string]map[string]string{
		"sim-a": {"DE": "0.0450", "*": "0.07"},
		"sim-b": {"GB": "1", "FR": "0.000001"},
	}}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	table, err := c.Prices.Table()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		prov, country string
		want          Micros
		ok            bool
	}{
		{"sim-a", "DE", 45_000, true},
		{"sim-a", "US", 70_000, true},
		{"sim-b", "GB", 1_000_000, true},
		{"sim-b", "FR", 1, true},
		{"sim-b", "US", 0, false},
		{"nobody", "DE", 0, false},
	} {
		if got, ok := table.Of(tc.prov, tc.country); got != tc.want || ok != tc.ok {
			t.Errorf("%s to %s: %d %v, want %d %v", tc.prov, tc.country, got, ok, tc.want, tc.ok)
		}
	}
	if s := Micros(45_000).String(); s != "0.045000" {
		t.Errorf("Micros(45000) = %q", s)
	}

	for _, tc := range []struct {
		name   string
		prices Prices
		want   string
	}{
		{"unknown provider", Prices{Currency: "EUR", Providers: map[string]map[string]string{"sim-c": {"*": "0.1"}}}, "prices.providers.sim-c: no such provider"},
		{"no currency", Prices{Providers: map[string]map[string]string{"sim-a": {"*": "0.1"}}}, "prices.currency"},
		{"bad currency", Prices{Currency: "euro", Providers: map[string]map[string]string{"sim-a": {"*": "0.1"}}}, "prices.currency"},
		{"currency alone", Prices{Currency: "EUR"}, "without any provider's prices"},
		{"bad country", Prices{Currency: "EUR", Providers: map[string]map[string]string{"sim-a": {"Germany": "0.1"}}}, "prices.providers.sim-a.Germany"},
		{"negative", Prices{Currency: "EUR", Providers: map[string]map[string]string{"sim-a": {"DE": "-0.1"}}}, "prices.providers.sim-a.DE"},
		{"seven decimals", Prices{Currency: "EUR", Providers: map[string]map[string]string{"sim-a": {"DE": "0.0000001"}}}, "at most six decimals"},
		{"not a number", Prices{Currency: "EUR", Providers: map[string]map[string]string{"sim-a": {"DE": "cheap"}}}, "prices.providers.sim-a.DE"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := c
			bad.Prices = tc.prices
			if err := bad.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one naming %q", err, tc.want)
			}
		})
	}
}
