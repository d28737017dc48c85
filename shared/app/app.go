// Package app wires the product from its environment: the settings, the AWS SDK configuration,
// the Lambda main (with init errors reported to the Runtime API) and the status handler.
// Subpackage linking does the same for link and unlink. The Lambda mains and the local server
// both build through them, so they run the same code.
package app

import (
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/tossgame/migration-server/shared/httpapi"
	"github.com/tossgame/migration-server/shared/migration"
	"github.com/tossgame/migration-server/shared/store"
	"github.com/tossgame/migration-server/shared/toss"
)

// Config is every setting, read from the environment by FromEnv (names in README).
type Config struct {
	Table       string         // TABLE_NAME
	SecretID    string         // SECRET_ID: name or ARN of the JSON secret
	SecretTTL   time.Duration  // SECRET_TTL, default 5m
	TossBaseURL string         // TOSS_API_BASE_URL, default Toss production
	TossRoots   *x509.CertPool // TOSS_API_CA_FILE: extra trust for a simulator; nil = system roots
	Keep        []string       // KEEP_PROFILE_FIELDS: comma-separated decrypted fields to store
	VerifyHash  bool           // VERIFY_HASH: ask Toss whether a hash is real before linking
	Origins     *httpapi.Origins
	Log         *slog.Logger
}

// Getenv reads one variable (os.Getenv, or a map in tests).
type Getenv func(string) string

// FromEnv reads and checks the settings. needSecret is false for status, which never reads it.
func FromEnv(env Getenv, needSecret bool) (Config, error) {
	var errs []error
	c := Config{
		Table:       env("TABLE_NAME"),
		SecretID:    env("SECRET_ID"),
		SecretTTL:   5 * time.Minute,
		TossBaseURL: or(env("TOSS_API_BASE_URL"), toss.DefaultBaseURL),
	}
	if c.Table == "" {
		errs = append(errs, errors.New("TABLE_NAME is not set"))
	}
	if needSecret && c.SecretID == "" {
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
	if v := env("VERIFY_HASH"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("VERIFY_HASH %q is not true or false", v))
		}
		c.VerifyHash = b
	}
	origins, err := httpapi.ParseOrigins(or(env("ALLOWED_ORIGINS"), httpapi.DefaultOrigins))
	if err != nil {
		errs = append(errs, fmt.Errorf("ALLOWED_ORIGINS: %w", err))
	}
	c.Origins = origins
	return c, errors.Join(errs...)
}

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// Options are the HTTP layer's settings.
func (c Config) Options() httpapi.Options {
	return httpapi.Options{Origins: c.Origins, Log: c.Log}
}

// NewStatus builds the status handler.
func NewStatus(c Config, db store.DynamoDB) httpapi.Handler {
	svc := &migration.Service{Store: store.New(db, c.Table), Log: c.Log}
	return httpapi.Status(svc, c.Options())
}
