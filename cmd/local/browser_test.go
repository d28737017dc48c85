package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tossgame/migration-server/shared/dev/devenv"
)

// playwrightVersion is the npm playwright-core the browser test drives Chromium with; it is
// installed into the project cache on first use (no browser download: Debian's chromium runs).
const playwrightVersion = "1.65.1"

// chromiumPath is Debian's chromium, which .ci/run installs.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if p != "" {
			if _, err := os.Stat(p); err == nil {
				return p
			}
		}
	}
	t.Fatal("Chromium is needed for the browser test and cannot be installed without root: run  sudo apt-get install -y chromium  (or set CHROMIUM to its path)")
	return ""
}

// playwright returns the folder holding node_modules/playwright-core, installing it there from npm
// when it is missing.
func playwright(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		t.Fatal("node is needed for the browser test: apt-get install nodejs npm")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, ".cache", "playwright")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "playwright-core", "package.json")); err == nil {
		return dir
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("npm", "install", "--prefix", dir, "--no-audit", "--no-fund", "--loglevel=error",
		"playwright-core@"+playwrightVersion)
	cmd.Env = append(os.Environ(), "PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm install playwright-core@%s into %s failed (is the npm registry reachable?): %v\n%s", playwrightVersion, dir, err, out)
	}
	return dir
}

// The local mini-app page, in headless Chromium on its own origin: the guide's flow links the
// player across origins (a real CORS preflight), and Toss's disconnect unlinks them.
func TestTheMiniAppPageLinksAndUnlinksInARealBrowser(t *testing.T) {
	chromium, pw := chromiumPath(t), playwright(t)
	logs := &devenv.SyncBuffer{}
	_, at, banner := startLocal(t, func(s *settings) {
		s.page = "127.0.0.1:0"
		s.log = logs
	})
	pageOrigin := at.Page
	if !strings.Contains(string(banner), pageOrigin) {
		t.Fatalf("the banner does not name the page %s:\n%s", pageOrigin, banner)
	}
	out, err := exec.Command("node", "testdata/browser.mjs", pw, chromium, pageOrigin+"/", "true").CombinedOutput()
	if err != nil {
		t.Fatalf("the browser run failed: %v\n%s\nserver log:\n%s", err, out, logs.String())
	}
	var got struct {
		AfterLink, AfterUnlink, Log, Events string
		ConsoleErrors                       []string
	}
	if err := json.Unmarshal(out[bytes.LastIndexByte(bytes.TrimSpace(out), '\n')+1:], &got); err != nil {
		t.Fatalf("the browser run printed no result: %v\n%s", err, out)
	}
	if got.AfterLink != "true" || got.AfterUnlink != "false" || len(got.ConsoleErrors) > 0 {
		t.Fatalf("mapped after link %q, after unlink %q, console errors %v\npage log:\n%s", got.AfterLink, got.AfterUnlink, got.ConsoleErrors, got.Log)
	}
	for _, want := range []string{
		`/api/auth/migration/status -> 200 {"isMapped":false}`,
		`/api/auth/migration/link -> 200 {"success":true}`,
		`/api/auth/migration/status -> 200 {"isMapped":true}`,
		`unlink callback (WITHDRAWAL_TOSS) -> 200 {"success":true}`,
	} {
		if !strings.Contains(got.Log, want) {
			t.Errorf("the page's log lacks %q:\n%s", want, got.Log)
		}
	}
	// The studio's events reached the page's own subscription, with the referrer Toss sent.
	for _, want := range []string{"UserLinked", "UserUnlinked", `"referrer":"WITHDRAWAL_TOSS"`} {
		if !strings.Contains(got.Events, want) {
			t.Errorf("the page's events feed lacks %s:\n%s", want, got.Events)
		}
	}
	// The browser asked API Gateway (here: its emulation) before each cross-origin POST.
	server := logs.String()
	for _, path := range []string{"/api/auth/migration/status", "/api/auth/migration/link"} {
		if !strings.Contains(server, fmt.Sprintf("method=OPTIONS path=%s status=204 origin=%s", path, pageOrigin)) {
			t.Errorf("no preflight of %s from %s in the server log:\n%s", path, pageOrigin, server)
		}
	}
}
