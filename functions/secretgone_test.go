package functions_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/tossgame/migration-server/shared/config"
	"github.com/tossgame/migration-server/shared/dev/devenv"
)

// A secret that is gone is not a blip: a warm container stops honouring its cached Basic Auth
// value at the next read (SECRET_TTL 0 here, so the next request reads), the callback fails
// closed, and the value serves again once the secret is restored.
func TestAGoneSecretFailsTheCallbackClosedAndARestoreHealsIt(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	type step struct {
		name    string
		breakIt func(e *fx)
		heal    func(e *fx)
	}
	steps := []step{
		{"scheduled for deletion (InvalidRequestException), then restored",
			func(e *fx) {
				if _, err := e.stack.SM.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: &e.secret, RecoveryWindowInDays: aws.Int64(7)}); err != nil {
					t.Fatal(err)
				}
			},
			func(e *fx) {
				if _, err := e.stack.SM.RestoreSecret(ctx, &secretsmanager.RestoreSecretInput{SecretId: &e.secret}); err != nil {
					t.Fatal(err)
				}
			}},
		{"access denied (AccessDeniedException), then granted again",
			func(e *fx) { e.moto.SecretsProxy.SetFault(getSecret, devenv.FaultAccessDenied) },
			func(e *fx) { e.moto.SecretsProxy.SetFault(getSecret, devenv.FaultNone) }},
		{"deleted for good (ResourceNotFoundException), then created again",
			func(e *fx) {
				if _, err := e.stack.SM.DeleteSecret(ctx, &secretsmanager.DeleteSecretInput{SecretId: &e.secret, ForceDeleteWithoutRecovery: aws.Bool(true)}); err != nil {
					t.Fatal(err)
				}
			},
			func(e *fx) { e.overwriteSecret(e.stack.Doc) }},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			// By name: a secret created again has a new ARN, which a deployment must be given.
			e := newFx(t, func(c *config.Config) { c.SecretTTL = 0 })
			e.cfg.SecretID = e.secret
			e.unlink = devenv.Unlink(e.cfg, e.log, e.stack.DB, e.stack.SM)
			e.link = devenv.Link(e.cfg, e.log, e.stack.DB, e.stack.SM)
			e.seed("kept", 501)
			c, b := e.doUnlink(e.unlink, relaxed, 0)
			want(t, "warm-up unlink", c, b, 200, `{"success":true}`)
			c, b = e.doLink(e.link, relaxed, "warm-link", e.mint(502))
			want(t, "warm-up link", c, b, 200, `{"success":true}`)
			before := e.snapshot()

			s.breakIt(e)
			c, b = e.doUnlink(e.unlink, relaxed, 501)
			want(t, "unlink with the secret gone", c, b, 503, `"SERVICE_UNAVAILABLE"`)
			c, b = e.doUnlink(e.unlink, relaxed, 501)
			want(t, "again", c, b, 503, `"SERVICE_UNAVAILABLE"`)
			code := e.mint(503)
			c, b = e.doLink(e.link, relaxed, "while-gone", code)
			want(t, "link with the secret gone", c, b, 503, `"SERVICE_UNAVAILABLE"`)
			e.sameStore(before)

			s.heal(e)
			c, b = e.doUnlink(e.unlink, relaxed, 501)
			want(t, "unlink after the restore", c, b, 200, `{"success":true}`)
			if isMapped(e, "kept") {
				t.Error("the unlink after the restore left the mapping")
			}
			c, b = e.doLink(e.link, relaxed, "while-gone", code) // the code was never spent
			want(t, "link after the restore", c, b, 200, `{"success":true}`)
		})
	}
}

// Wrong credentials may each ask for a fresh copy of the secret (so that a rotated value works
// at once), but at most one forced refresh per container per secrets.DefaultForceInterval: a
// flood of them cannot drive Secrets Manager calls. The bound comes from the measured duration.
func TestAFloodOfWrongCredentialsCannotDriveSecretsManagerCalls(t *testing.T) {
	t.Parallel()
	e := newFx(t, nil)
	c, b := e.doUnlink(e.unlink, relaxed, 0)
	want(t, "warm-up", c, b, 200, `{"success":true}`)
	sp := e.moto.SecretsProxy
	sp.ResetCalls()

	const n, workers = 400, 16
	start := time.Now()
	var wg sync.WaitGroup
	var mu sync.Mutex
	statuses := map[int]int{}
	for w := range workers {
		wg.Go(func() {
			for i := w; i < n; i += workers {
				c, _ := invoke(t, e.unlink, unlinkRequest(int64(i), fmt.Sprintf("local-unlink:guess-%d", i)))
				mu.Lock()
				statuses[c]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	calls := sp.Calls()[getSecret]
	bound := 1 + int(elapsed/(5*time.Second)) // DefaultForceInterval
	if statuses[http.StatusUnauthorized] != n {
		t.Errorf("answers %v, want %d × 401", statuses, n)
	}
	if calls < 1 || calls > bound {
		t.Errorf("%d GetSecretValue calls for %d wrong credentials in %v; want 1 to %d", calls, n, elapsed.Round(time.Millisecond), bound)
	}
	t.Logf("%d wrong credentials in %v cost %d GetSecretValue calls (bound %d)", n, elapsed.Round(time.Millisecond), calls, bound)
}

// A value rotated in the secret works on the first callback that carries it, long before the
// cache's TTL (5 minutes by default) would have read it.
func TestABasicAuthValueRotatedInTheSecretWorksAtOnce(t *testing.T) {
	t.Parallel()
	e := newFx(t, nil)
	c, b := e.doUnlink(e.unlink, relaxed, 0)
	want(t, "warm-up", c, b, 200, `{"success":true}`)
	doc := e.stack.Doc
	doc.UnlinkBasicAuthNext = "local-unlink:next-value"
	e.overwriteSecret(doc)
	c, b = invoke(t, e.unlink, unlinkRequest(1, "local-unlink:next-value"))
	want(t, "the next value at once", c, b, 200, `{"success":true}`)
	c, b = e.doUnlink(e.unlink, relaxed, 2)
	want(t, "the current value still", c, b, 200, `{"success":true}`)
}
