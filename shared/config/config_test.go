package config

import (
	"strings"
	"testing"
	"time"
)

func envOf(kv ...string) Getenv {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

func TestTheMetricsNamespaceDefaultsAndIsChecked(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, value, want, err string
	}{
		{"unset is the default", "", DefaultMetricsNamespace, ""},
		{"a studio's own namespace", "Studio/TossMigration-prod", "Studio/TossMigration-prod", ""},
		{"AWS's own namespaces are refused", "AWS/Lambda", "", `METRICS_NAMESPACE "AWS/Lambda" must not start with "AWS/"`},
		{"non-ASCII is refused", "토스", "", "METRICS_NAMESPACE"},
		{"over 255 characters is refused", strings.Repeat("n", 256), "", "METRICS_NAMESPACE"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := FromEnv(envOf("TABLE_NAME", "t", "METRICS_NAMESPACE", c.value), Table)
			switch {
			case c.err == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case c.err == "" && cfg.MetricsNamespace != c.want:
				t.Errorf("namespace %q, want %q", cfg.MetricsNamespace, c.want)
			case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
				t.Errorf("error %v, want one saying %q", err, c.err)
			}
		})
	}
}

func TestEachFunctionNeedsOnlyItsSettings(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		needs Needs
		env   Getenv
		err   string
	}{
		{"status needs the table", Table, envOf(), "TABLE_NAME is not set"},
		{"status does not need the secret", Table, envOf("TABLE_NAME", "t"), ""},
		{"link needs the secret", TableAndSecret, envOf("TABLE_NAME", "t"), "SECRET_ID is not set"},
		{"the certificate check needs the secret", Secret, envOf(), "SECRET_ID is not set"},
		{"the certificate check does not need the table", Secret, envOf("SECRET_ID", "s"), ""},
	}
	for _, c := range cases {
		_, err := FromEnv(c.env, c.needs)
		if c.err == "" && err != nil || c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)) {
			t.Errorf("%s: error %v, want %q", c.name, err, c.err)
		}
	}
}
func TestTheSandboxAndTossLoginRemovalSettingsAreOffByDefaultAndNamedWhenBad(t *testing.T) {
	t.Parallel()
	env := func(m map[string]string) Getenv {
		return func(k string) string {
			if v, ok := m[k]; ok {
				return v
			}
			return map[string]string{"TABLE_NAME": "t", "SECRET_ID": "s"}[k]
		}
	}
	c, err := FromEnv(env(nil), TableAndSecret)
	if err != nil || c.AllowSandbox || c.RemoveTossLogin {
		t.Fatalf("defaults: %+v %v", c, err)
	}
	c, err = FromEnv(env(map[string]string{"ALLOW_SANDBOX_LINKS": "true", "REMOVE_TOSS_LOGIN_AT_LINK": "true"}), TableAndSecret)
	if err != nil || !c.AllowSandbox || !c.RemoveTossLogin {
		t.Fatalf("both on: %+v %v", c, err)
	}
	for _, name := range []string{"ALLOW_SANDBOX_LINKS", "REMOVE_TOSS_LOGIN_AT_LINK"} {
		_, err := FromEnv(env(map[string]string{name: "yes please"}), TableAndSecret)
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s=yes please: %v, want an error naming the variable", name, err)
		}
	}
}

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
