package secrets

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/tossgame/migration-server/shared/apperr"
	"github.com/tossgame/migration-server/shared/dev/devcert"
)

func validDoc(t *testing.T) Document {
	t.Helper()
	ca, err := devcert.NewCA("test")
	if err != nil {
		t.Fatal(err)
	}
	cert, key, err := ca.Issue("client", nil, true)
	if err != nil {
		t.Fatal(err)
	}
	return Document{
		DecryptionKey:   base64.StdEncoding.EncodeToString(make([]byte, 32)),
		AAD:             "AAD",
		MTLSCertificate: string(cert),
		MTLSPrivateKey:  string(key),
		UnlinkBasicAuth: "id:pw",
	}
}

func raw(d Document) []byte { b, _ := json.Marshal(d); return b }

func TestParseLinkNamesTheBadFieldButNeverItsValue(t *testing.T) {
	t.Parallel()
	good := validDoc(t)
	if _, err := ParseLink(raw(good)); err != nil {
		t.Fatalf("a valid secret: %v", err)
	}
	other := validDoc(t)
	cases := map[string]struct {
		mutate func(*Document)
		field  string
	}{
		"no key":                {func(d *Document) { d.DecryptionKey = "" }, "decryptionKey"},
		"key not base64":        {func(d *Document) { d.DecryptionKey = "VALUE-SENTINEL!!" }, "decryptionKey"},
		"key of 16 bytes":       {func(d *Document) { d.DecryptionKey = base64.StdEncoding.EncodeToString(make([]byte, 16)) }, "decryptionKey"},
		"no aad":                {func(d *Document) { d.AAD = "" }, "aad"},
		"no certificate":        {func(d *Document) { d.MTLSCertificate = "" }, "mtlsCertificate"},
		"no private key":        {func(d *Document) { d.MTLSPrivateKey = "" }, "mtlsPrivateKey"},
		"not PEM":               {func(d *Document) { d.MTLSCertificate = "VALUE-SENTINEL" }, "mtlsCertificate"},
		"a key of another cert": {func(d *Document) { d.MTLSPrivateKey = other.MTLSPrivateKey }, "mtlsCertificate"},
	}
	for name, c := range cases {
		d := good
		c.mutate(&d)
		_, err := ParseLink(raw(d))
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != c.field {
			t.Errorf("%s: error %v, want a FieldError for %s", name, err, c.field)
			continue
		}
		if strings.Contains(err.Error(), "SENTINEL") || strings.Contains(err.Error(), "PRIVATE KEY") {
			t.Errorf("%s: error quotes the value: %v", name, err)
		}
	}
	for _, bad := range []string{``, `not json`, `[]`, `{"decryptionKey":5}`} {
		if _, err := ParseLink([]byte(bad)); err == nil {
			t.Errorf("%q: error %v", bad, err)
		}
	}
}

func TestParseUnlinkTreatsAMissingValueAsNotConfigured(t *testing.T) {
	t.Parallel()
	u, err := ParseUnlink([]byte(`{"decryptionKey":"x"}`))
	if err != nil || u.BasicAuth != "" {
		t.Errorf("got %+v, %v", u, err)
	}
	u, err = ParseUnlink([]byte(`{"unlinkBasicAuth":"id:pw"}`))
	if err != nil || u.BasicAuth != "id:pw" {
		t.Errorf("got %+v, %v", u, err)
	}
}

// source is a Secrets Manager stand-in: the cache's logic is about time and failures, which a
// real server cannot be asked to produce on cue. The real server is exercised in the flow tests.
type source struct {
	mu    sync.Mutex
	value string
	err   error
	calls int
}

func (s *source) GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, _ ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls++
	if s.err != nil {
		return nil, s.err
	}
	v := s.value
	return &secretsmanager.GetSecretValueOutput{SecretString: &v}, nil
}

func TestCacheFetchesOncePerTTLAndKeepsTheLastGoodValue(t *testing.T) {
	t.Parallel()
	src := &source{value: `{"unlinkBasicAuth":"v1"}`}
	c := NewCache(src, "id", time.Minute, ParseUnlink, nil)
	now := time.Unix(1000, 0)
	c.now = func() time.Time { return now }
	ctx := context.Background()

	for i := 0; i < 5; i++ {
		if v, err := c.Get(ctx); err != nil || v.BasicAuth != "v1" {
			t.Fatalf("get: %+v %v", v, err)
		}
	}
	if src.calls != 1 {
		t.Fatalf("%d fetches within the TTL, want 1", src.calls)
	}

	now = now.Add(2 * time.Minute)
	src.value = `{"unlinkBasicAuth":"v2"}`
	if v, _ := c.Get(ctx); v.BasicAuth != "v2" || src.calls != 2 {
		t.Fatalf("after the TTL: %+v after %d calls, want v2 after 2", v, src.calls)
	}

	now = now.Add(2 * time.Minute)
	src.err = errors.New("throttled")
	if v, err := c.Get(ctx); err != nil || v.BasicAuth != "v2" {
		t.Fatalf("a failed refresh must serve the last good value: %+v %v", v, err)
	}
	calls := src.calls
	c.Get(ctx)
	if src.calls != calls {
		t.Errorf("a failed refresh is retried on every request; want a pause of %v", retryAfter)
	}
	now = now.Add(retryAfter)
	src.err = nil
	src.value = `{"unlinkBasicAuth":"v3"}`
	if v, _ := c.Get(ctx); v.BasicAuth != "v3" {
		t.Errorf("recovery: %+v", v)
	}

	now = now.Add(2 * time.Minute)
	src.value = `not json`
	if v, err := c.Get(ctx); err != nil || v.BasicAuth != "v3" {
		t.Errorf("a malformed new value must not replace the good one: %+v %v", v, err)
	}
}

func TestCacheWithoutAGoodValueReportsWhy(t *testing.T) {
	t.Parallel()
	c := NewCache(&source{err: errors.New("boom")}, "id", time.Minute, ParseLink, nil)
	if _, err := c.Get(context.Background()); !errors.Is(err, apperr.ErrUnavailable) {
		t.Errorf("unreachable: %v", err)
	}
	c = NewCache(&source{value: `{}`}, "id", time.Minute, ParseLink, nil)
	_, err := c.Get(context.Background())
	var fe *FieldError
	if !errors.Is(err, apperr.ErrNotConfigured) || !errors.As(err, &fe) || fe.Field != "decryptionKey" {
		t.Errorf("malformed: %v", err)
	}
}
