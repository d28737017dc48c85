package secrets

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"slices"
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
	c := NewCache(src, "id", time.Minute, ParseUnlink, quiet)
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
	c := NewCache(&source{err: errors.New("boom")}, "id", time.Minute, ParseLink, quiet)
	if _, err := c.Get(context.Background()); !errors.Is(err, apperr.ErrUnavailable) {
		t.Errorf("unreachable: %v", err)
	}
	c = NewCache(&source{value: `{}`}, "id", time.Minute, ParseLink, quiet)
	_, err := c.Get(context.Background())
	var fe *FieldError
	if !errors.Is(err, apperr.ErrNotConfigured) || !errors.As(err, &fe) || fe.Field != "decryptionKey" {
		t.Errorf("malformed: %v", err)
	}
}

func TestParseLinkChecksEveryPairAndNamesItsIndexButNeverItsValue(t *testing.T) {
	t.Parallel()
	ca, err := devcert.NewCA("test")
	if err != nil {
		t.Fatal(err)
	}
	pair := func() PairJSON {
		c, k, err := ca.Issue("client", nil, true)
		if err != nil {
			t.Fatal(err)
		}
		return PairJSON{string(c), string(k)}
	}
	a, b := pair(), pair()
	base := validDoc(t)
	base.MTLSCertificate, base.MTLSPrivateKey = "", ""
	cases := []struct {
		name  string
		pairs []PairJSON
		field string // "" = valid
		n     int
	}{
		{"two good pairs", []PairJSON{a, b}, "", 2},
		{"one good pair in the list", []PairJSON{a}, "", 1},
		{"the second pair's key is the first's", []PairJSON{a, {b.Certificate, a.PrivateKey}}, "mtlsCertificates[1]", 0},
		{"the first pair is not PEM", []PairJSON{{"CERT-SENTINEL", "KEY-SENTINEL"}, b}, "mtlsCertificates[0]", 0},
		{"the second pair has no key", []PairJSON{a, {b.Certificate, ""}}, "mtlsCertificates[1].privateKey", 0},
		{"the third pair has no certificate", []PairJSON{a, b, {"", b.PrivateKey}}, "mtlsCertificates[2].certificate", 0},
		{"an empty list and no single pair", []PairJSON{}, "mtlsCertificate", 0},
	}
	for _, c := range cases {
		d := base
		d.MTLSCertificates = c.pairs
		l, err := ParseLink(raw(d))
		if c.field == "" {
			if err != nil || len(l.Pairs) != c.n {
				t.Errorf("%s: %d pairs, %v", c.name, len(l.Pairs), err)
			}
			continue
		}
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != c.field {
			t.Errorf("%s: error %v, want a FieldError for %s", c.name, err, c.field)
			continue
		}
		for _, s := range []string{"SENTINEL", "PRIVATE KEY", "BEGIN"} {
			if strings.Contains(err.Error(), s) {
				t.Errorf("%s: error quotes the value: %v", c.name, err)
			}
		}
	}

	// The single pair beside the list is one more pair: a rotation may start from the old shape.
	d := validDoc(t)
	d.MTLSCertificates = []PairJSON{a}
	l, err := ParseLink(raw(d))
	if err != nil || len(l.Pairs) != 2 || l.Pairs[0].Field != "mtlsCertificate" || l.Pairs[1].Field != "mtlsCertificates[0]" {
		t.Fatalf("single pair and list: %+v, %v", l.Pairs, err)
	}
	if l.Pairs[0].Fingerprint == l.Pairs[1].Fingerprint {
		t.Error("two certificates share a fingerprint")
	}
}

func TestCertificatesListEachPairsValidityAndNoKey(t *testing.T) {
	t.Parallel()
	ca, err := devcert.NewCA("test")
	if err != nil {
		t.Fatal(err)
	}
	nb, na := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2027, 1, 26, 0, 0, 0, 0, time.UTC)
	c, k, err := ca.IssueValid("my-game", nil, true, nb, na)
	if err != nil {
		t.Fatal(err)
	}
	d := validDoc(t)
	d.MTLSCertificates = []PairJSON{{string(c), string(k)}}
	l, err := ParseLink(raw(d))
	if err != nil {
		t.Fatal(err)
	}
	infos := l.Certificates()
	if len(infos) != 2 {
		t.Fatalf("%d certificates listed, want 2", len(infos))
	}
	got := infos[1]
	if got.Field != "mtlsCertificates[0]" || got.Subject != "my-game" || !got.NotBefore.Equal(nb) || !got.NotAfter.Equal(na) || len(got.Fingerprint) != 64 {
		t.Errorf("listed %+v", got)
	}
}

func TestParseUnlinkReadsTheCurrentAndTheNextValue(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		doc  string
		want []string
	}{
		{`{"unlinkBasicAuth":"id:old","unlinkBasicAuthNext":"id:new"}`, []string{"id:old", "id:new"}},
		{`{"unlinkBasicAuth":"id:old"}`, []string{"id:old"}},
		{`{"unlinkBasicAuthNext":"id:new"}`, []string{"id:new"}},
		{`{"unlinkBasicAuth":"","unlinkBasicAuthNext":""}`, nil},
	} {
		u, err := ParseUnlink([]byte(c.doc))
		if err != nil || !slices.Equal(u.Values(), c.want) {
			t.Errorf("%s: %v %v, want %v", c.doc, u.Values(), err, c.want)
		}
	}
}
