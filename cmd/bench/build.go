package main

import (
	"archive/zip"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"time"

	"github.com/tossgame/migration-server/shared/routes"
)

// binary is one bootstrap the bench runs and weighs: a function or a baseline.
type binary struct {
	pkg     string // ./functions/status
	logical string // functions only: the template's LogicalId, built by make build-<LogicalId> as sam build does
	host    string // built for this machine, for the Runtime API harness
	size    int64  // linux/arm64 binary bytes
	zip     int64  // linux/arm64 deployment zip bytes
}

// lambdaFlags are the Makefile's GOBUILD flags (CGO_ENABLED=0 is set in the environment).
var lambdaFlags = []string{"build", "-tags", "lambda.norpc", "-trimpath", "-ldflags=-s -w"}

// build builds every function and baseline for this machine (for the harness) and for
// linux/arm64 (for the sizes). The keys are the names the table uses.
func build(ctx context.Context, root, dir string) (map[string]*binary, error) {
	bins := map[string]*binary{
		"bare status":                    {pkg: "./cmd/bench/barefn/dynamodb"},
		"bare status, LoadDefaultConfig": {pkg: "./cmd/bench/barefn/defaultconfig"},
		"empty":                          {pkg: "./cmd/bench/emptyfn"},
	}
	for _, fn := range functions() {
		bins[fn] = &binary{pkg: "./functions/" + fn, logical: routes.LogicalID(fn)}
		bins["bare "+fn] = bins["bare status"]
		if subjects[fn].secrets {
			bins["bare "+fn] = &binary{pkg: "./cmd/bench/barefn/secrets"}
		}
	}
	var pkgs []string
	byPkg := map[string]*binary{}
	for _, b := range bins {
		if byPkg[b.pkg] == nil {
			pkgs = append(pkgs, b.pkg)
		}
		byPkg[b.pkg] = b
	}
	for k, b := range bins { // one binary per package, shared by every key naming it
		bins[k] = byPkg[b.pkg]
	}

	hostDir, armDir := filepath.Join(dir, "host"), filepath.Join(dir, "arm64")
	goBuild := func(goos, goarch, out string, pkgs ...string) error {
		cmd := exec.CommandContext(ctx, "go", append(append(append([]string{}, lambdaFlags...), "-o", out), pkgs...)...)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+goos, "GOARCH="+goarch)
		if b, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build for %s/%s: %v\n%s", goos, goarch, err, b)
		}
		return nil
	}
	if err := goBuild(runtime.GOOS, runtime.GOARCH, hostDir+string(filepath.Separator), pkgs...); err != nil {
		return nil, err
	}
	for _, b := range byPkg {
		b.host = filepath.Join(hostDir, filepath.Base(b.pkg))
		arm := filepath.Join(armDir, filepath.Base(b.pkg), "bootstrap")
		if b.logical != "" {
			cmd := exec.CommandContext(ctx, "make", "-s", "build-"+b.logical, "ARTIFACTS_DIR="+filepath.Dir(arm))
			cmd.Dir = root
			if out, err := cmd.CombinedOutput(); err != nil {
				return nil, fmt.Errorf("make build-%s: %v\n%s", b.logical, err, out)
			}
		} else if err := goBuild("linux", "arm64", arm, b.pkg); err != nil {
			return nil, err
		}
		var err error
		if b.size, b.zip, err = sizes(arm); err != nil {
			return nil, err
		}
	}
	return bins, nil
}

// sizes are the binary's size and its deployment package's: the bootstrap alone in a deflate zip,
// executable, as SAM packages a makefile-built function.
func sizes(bin string) (size, zipped int64, err error) {
	data, err := os.ReadFile(bin)
	if err != nil {
		return 0, 0, err
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	hdr := &zip.FileHeader{Name: "bootstrap", Method: zip.Deflate, Modified: time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)}
	hdr.SetMode(0o755)
	w, err := zw.CreateHeader(hdr)
	if err == nil {
		_, err = w.Write(data)
	}
	if err == nil {
		err = zw.Close()
	}
	return int64(len(data)), int64(buf.Len()), err
}
