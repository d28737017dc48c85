package main

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// function is one Lambda function of the bundle, or the empty baseline.
type function struct {
	name     string // status, link, unlink, empty
	pkg      string // ./functions/status
	logical  string // the template's LogicalId: StatusFunction
	hostBin  string // built for this machine, for the harness
	armBin   string // linux/arm64, as sam build makes it
	size     int64  // arm64 binary bytes
	zipSize  int64  // arm64 zip (deflate) bytes
	baseline bool
}

var functionList = []*function{
	{name: "status", pkg: "./functions/status", logical: "StatusFunction"},
	{name: "link", pkg: "./functions/link", logical: "LinkFunction"},
	{name: "unlink", pkg: "./functions/unlink", logical: "UnlinkFunction"},
	{name: "empty", pkg: "./cmd/bench/emptyfn", logical: "EmptyFunction", baseline: true},
}

// lambdaFlags are the Makefile's GOBUILD flags (CGO_ENABLED=0 is set in the environment).
var lambdaFlags = []string{"build", "-tags", "lambda.norpc", "-trimpath", "-ldflags=-s -w"}

// moduleRoot is the directory of go.mod: builds, make and events/ are relative to it.
func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("run cmd/bench inside the module (go run ./cmd/bench from the repository root)")
	}
	return filepath.Dir(gomod), nil
}

// buildHost builds every function and the baseline for this machine in one go build (the Lambda
// flags, host GOOS/GOARCH), for the Runtime API harness.
func buildHost(ctx context.Context, root, dir string, fns []*function) error {
	args := append(append([]string{}, lambdaFlags...), "-o", dir+string(filepath.Separator))
	for _, f := range fns {
		args = append(args, f.pkg)
	}
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+runtime.GOOS, "GOARCH="+runtime.GOARCH)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build for this machine: %v\n%s", err, out)
	}
	for _, f := range fns {
		f.hostBin = filepath.Join(dir, filepath.Base(f.pkg))
		// The harness names the function after the binary; keep them apart from the arm64 ones.
	}
	return nil
}

// buildArm64 builds each Lambda artifact exactly as `sam build` does, through the Makefile's
// build-<LogicalId> target (make -s build-StatusFunction ARTIFACTS_DIR=...). The baseline, which
// has no target, is built with the same command line. It returns how each was built.
func buildArm64(ctx context.Context, root, dir string, fns []*function) (string, error) {
	_, makeErr := exec.LookPath("make")
	how := "make build-<LogicalId> ARTIFACTS_DIR=… (the Makefile's targets, as sam build runs them)"
	for _, f := range fns {
		out := filepath.Join(dir, f.logical)
		f.armBin = filepath.Join(out, "bootstrap")
		var cmd *exec.Cmd
		if !f.baseline && makeErr == nil {
			cmd = exec.CommandContext(ctx, "make", "-s", "build-"+f.logical, "ARTIFACTS_DIR="+out)
			cmd.Env = os.Environ()
		} else {
			if !f.baseline {
				how = "the Makefile's GOBUILD command line (make not found)"
			}
			args := append(append([]string{}, lambdaFlags...), "-o", f.armBin, f.pkg)
			cmd = exec.CommandContext(ctx, "go", args...)
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=arm64")
		}
		cmd.Dir = root
		if b, err := cmd.CombinedOutput(); err != nil {
			return how, fmt.Errorf("build %s for linux/arm64: %v\n%s", f.name, err, b)
		}
		fi, err := os.Stat(f.armBin)
		if err != nil {
			return how, err
		}
		f.size = fi.Size()
		z, err := zipSize(f.armBin)
		if err != nil {
			return how, err
		}
		f.zipSize = z
	}
	return how, nil
}

// zipSize is the size of the deployment package: the bootstrap alone in a deflate zip, executable,
// as SAM packages a makefile-built function (Python's zipfile, ZIP_DEFLATED, default level).
func zipSize(bin string) (int64, error) {
	data, err := os.ReadFile(bin)
	if err != nil {
		return 0, err
	}
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	hdr := &zip.FileHeader{Name: "bootstrap", Method: zip.Deflate, Modified: time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)}
	hdr.SetMode(0o755)
	w, err := zw.CreateHeader(hdr)
	if err != nil {
		return 0, err
	}
	if _, err := w.Write(data); err != nil {
		return 0, err
	}
	if err := zw.Close(); err != nil {
		return 0, err
	}
	return int64(buf.Len()), nil
}
