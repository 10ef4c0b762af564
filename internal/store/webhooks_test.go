package store_test

import (
	"context"
	"testing"
	"time"
)

// TestWebhookIDs: an id is unseen until marked, seen after, per provider,
// and always expires (SET NX: a second mark keeps the first TTL).
func TestWebhookIDs(t *testing.T) {
	st := newStore(t)
	ctx := context.Background()
	if seen, err := st.WebhookSeen(ctx, "tw", "sid:SM1"); err != nil || seen {
		t.Fatalf("unmarked id: seen %v, %v", seen, err)
	}
	if err := st.MarkWebhook(ctx, "tw", "sid:SM1", time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := st.MarkWebhook(ctx, "tw", "sid:SM1", 365*24*time.Hour); err != nil {
		t.Fatal(err)
	}
	if seen, err := st.WebhookSeen(ctx, "tw", "sid:SM1"); err != nil || !seen {
		t.Fatalf("marked id: seen %v, %v", seen, err)
	}
	if seen, _ := st.WebhookSeen(ctx, "other", "sid:SM1"); seen {
		t.Fatal("an id of one provider is seen for another")
	}
	ttl, err := st.Redis().TTL(ctx, "sf:wh:tw:sid:SM1").Result()
	if err != nil || ttl <= 0 || ttl > time.Hour {
		t.Fatalf("TTL %v %v, want at most the first mark's hour", ttl, err)
	}
}
