package config

import (
	"strings"
	"testing"
)

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
