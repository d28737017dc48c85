package config

import (
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) Getenv { return func(k string) string { return m[k] } }

func TestTombstoneTTLDefaultsToADayAndRefusesWhatALinkCouldOutlive(t *testing.T) {
	t.Parallel()
	base := map[string]string{"TABLE_NAME": "t", "SECRET_ID": "s"}
	c, err := FromEnv(env(base), TableAndSecret)
	if err != nil || c.TombstoneTTL != 24*time.Hour {
		t.Fatalf("default: %v %v, want 24h", c.TombstoneTTL, err)
	}
	for v, want := range map[string]time.Duration{"1h": time.Hour, "1m": time.Minute, "72h": 72 * time.Hour} {
		base["TOMBSTONE_TTL"] = v
		if c, err := FromEnv(env(base), TableAndSecret); err != nil || c.TombstoneTTL != want {
			t.Errorf("TOMBSTONE_TTL=%s: %v %v", v, c.TombstoneTTL, err)
		}
	}
	for _, bad := range []string{"10s", "59s", "-1h", "soon", "24"} {
		base["TOMBSTONE_TTL"] = bad
		if _, err := FromEnv(env(base), TableAndSecret); err == nil || !strings.Contains(err.Error(), "TOMBSTONE_TTL") {
			t.Errorf("TOMBSTONE_TTL=%s: error %v, want one naming TOMBSTONE_TTL", bad, err)
		}
	}
}

func TestTheEventsFunctionNeedsItsBusAndNoTable(t *testing.T) {
	t.Parallel()
	if _, err := FromEnv(env(nil), EventBus); err == nil || !strings.Contains(err.Error(), "EVENT_BUS_NAME") ||
		strings.Contains(err.Error(), "TABLE_NAME") {
		t.Fatalf("no settings: %v, want an error naming EVENT_BUS_NAME only", err)
	}
	c, err := FromEnv(env(map[string]string{"EVENT_BUS_NAME": "bus"}), EventBus)
	if err != nil || c.EventBus != "bus" {
		t.Fatalf("%+v %v", c, err)
	}
	if _, err := FromEnv(env(map[string]string{"TABLE_NAME": "t"}), Table); err != nil {
		t.Fatalf("status needs no bus: %v", err)
	}
}
