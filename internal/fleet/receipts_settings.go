package fleet

import "github.com/smsfleet/smsfleet/internal/config"

// receiptsSettings is the receipts configuration. Its defaults come from
// config.Default, like every other setting; the function stays only for
// its callers in receipts.go and providers.go, which can read
// cfg.Receipts directly.
func receiptsSettings(cfg config.Config) config.Receipts { return cfg.Receipts }
