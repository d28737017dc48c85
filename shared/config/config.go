// Package config reads and checks a function's settings from its environment (names and meanings
// in README). A bad setting fails init with a message naming the variable.
package config

import (
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/tossgame/migration-server/shared/metrics"
	"github.com/tossgame/migration-server/shared/migration"
	"github.com/tossgame/migration-server/shared/store"
	"github.com/tossgame/migration-server/shared/toss"
)

// Config is every setting of the functions.
type Config struct {
	Table       string         // TABLE_NAME
	SecretID    string         // SECRET_ID: name or ARN of the JSON secret
	SecretTTL   time.Duration  // SECRET_TTL, default 5m
	TossBaseURL string         // TOSS_API_BASE_URL, default Toss production
	TossRoots   *x509.CertPool // TOSS_API_CA_FILE: extra trust for a simulator; nil = system roots
	Keep        []string       // KEEP_PROFILE_FIELDS: comma-separated decrypted fields to store
	VerifyHash  bool           // VERIFY_HASH: ask Toss whether a hash is real before linking
	// MetricsNamespace is the CloudWatch namespace of the functions' metrics (METRICS_NAMESPACE,
	// default DefaultMetricsNamespace): the template's dashboard and alarms read the same one.
	MetricsNamespace string
	// ALLOW_SANDBOX_LINKS: accept links whose referrer is SANDBOX (default false: sandbox
	// hashes are mock data; the local run and the dev stack set it true).
	AllowSandbox bool
	// REMOVE_TOSS_LOGIN_AT_LINK: after a link commits, end the user's Toss login
	// (remove-by-access-token; default false).
	RemoveTossLogin bool
	// TombstoneTTL (TOMBSTONE_TTL, default 24h) is how long an unlink's tombstone keeps the
	// userKey; it must outlast any link in flight (the link function's timeout).
	TombstoneTTL time.Duration
	EventBus     string // EVENT_BUS_NAME: the bus the events function publishes to
}

// DefaultMetricsNamespace is the metrics' namespace when METRICS_NAMESPACE is not set.
const DefaultMetricsNamespace = metrics.DefaultNamespace

// MinTombstoneTTL is the shortest TOMBSTONE_TTL accepted: well above the link function's 10 s
// timeout, which bounds how long a link can be in flight.
const MinTombstoneTTL = time.Minute

// Getenv reads one variable (os.Getenv, or a map in tests).
type Getenv func(string) string

// Needs says which settings a function requires.
type Needs int

const (
	// Table alone: the status function, which never reads the secret.
	Table Needs = iota
	// TableAndSecret: link and unlink.
	TableAndSecret
	// Secret alone: the daily certificate check.
	Secret
	// EventBus alone: the events function, which reads the table's stream, not the table.
	EventBus
)

// FromEnv reads and checks the settings.
func FromEnv(env Getenv, needs Needs) (Config, error) {
	var errs []error
	c := Config{
		Table:        env("TABLE_NAME"),
		SecretID:     env("SECRET_ID"),
		SecretTTL:    5 * time.Minute,
		TossBaseURL:  or(env("TOSS_API_BASE_URL"), toss.DefaultBaseURL),
		EventBus:     env("EVENT_BUS_NAME"),
		TombstoneTTL: store.DefaultTombstoneTTL,

		MetricsNamespace: or(env("METRICS_NAMESPACE"), DefaultMetricsNamespace),
	}
	if needs == EventBus && c.EventBus == "" {
		errs = append(errs, errors.New("EVENT_BUS_NAME is not set"))
	}
	if v := env("TOMBSTONE_TTL"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < MinTombstoneTTL {
			errs = append(errs, fmt.Errorf("TOMBSTONE_TTL %q is not a duration of at least %v, like 24h", v, MinTombstoneTTL))
		}
		c.TombstoneTTL = d
	}
	if needs != EventBus && needs != Secret && c.Table == "" {
		errs = append(errs, errors.New("TABLE_NAME is not set"))
	}
	if (needs == TableAndSecret || needs == Secret) && c.SecretID == "" {
		errs = append(errs, errors.New("SECRET_ID is not set"))
	}
	if v := env("SECRET_TTL"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			errs = append(errs, fmt.Errorf("SECRET_TTL %q is not a duration like 5m", v))
		}
		c.SecretTTL = d
	}
	if f := env("TOSS_API_CA_FILE"); f != "" {
		pem, err := os.ReadFile(f)
		pool := x509.NewCertPool()
		if err != nil || !pool.AppendCertsFromPEM(pem) {
			errs = append(errs, fmt.Errorf("TOSS_API_CA_FILE %q is not a readable PEM certificate", f))
		}
		c.TossRoots = pool
	}
	keep, err := migration.ParseKeep(strings.Split(env("KEEP_PROFILE_FIELDS"), ","))
	if err != nil {
		errs = append(errs, fmt.Errorf("KEEP_PROFILE_FIELDS: %w", err))
	}
	c.Keep = keep
	c.VerifyHash, err = boolean(env, "VERIFY_HASH", false)
	errs = append(errs, err)
	if err := metrics.ValidNamespace(c.MetricsNamespace); err != nil {
		errs = append(errs, fmt.Errorf("METRICS_NAMESPACE %q %w", c.MetricsNamespace, err))
	}
	c.AllowSandbox, err = boolean(env, "ALLOW_SANDBOX_LINKS", false)
	errs = append(errs, err)
	c.RemoveTossLogin, err = boolean(env, "REMOVE_TOSS_LOGIN_AT_LINK", false)
	errs = append(errs, err)
	return c, errors.Join(errs...)
}

// boolean reads an optional true/false variable.
func boolean(env Getenv, name string, def bool) (bool, error) {
	v := env(name)
	if v == "" {
		return def, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return def, fmt.Errorf("%s %q is not true or false", name, v)
	}
	return b, nil
}

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
