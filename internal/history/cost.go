package history

import "github.com/smsfleet/smsfleet/internal/config"

// cost shows an amount in millionths with the configured currency
// ("0.045000 EUR"), or "" when it is unknown (no price, or no prices).
func (s *Server) cost(micros int64, priced bool) string {
	if !priced || s.o.Currency == "" {
		return ""
	}
	return config.Micros(micros).String() + " " + s.o.Currency
}
