package config

import (
	"strings"
	"testing"
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
