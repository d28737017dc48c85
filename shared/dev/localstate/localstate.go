// Package localstate is the small file `make run` (cmd/local) writes while it serves, saying where
// its dev stack is, so that `migrationctl --local` finds it with no other setup. It holds
// addresses and names only: the stack's secret stays in its (local) Secrets Manager.
package localstate

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// EnvPath overrides where the file is (tests, or two checkouts running at once).
const EnvPath = "TOSS_MIGRATION_LOCAL_STATE"

// State is the file's content.
type State struct {
	PID            int    `json:"pid"`            // the process serving the stack
	API            string `json:"api"`            // the three routes, e.g. http://127.0.0.1:3000
	Region         string `json:"region"`         // any region works on moto; the clients must agree
	DynamoDB       string `json:"dynamodb"`       // endpoint
	SecretsManager string `json:"secretsManager"` // endpoint
	SQS            string `json:"sqs,omitempty"`  // endpoint; "" when the stack has no queue
	Table          string `json:"table"`
	SecretID       string `json:"secretId"`
	TossAPI        string `json:"tossApi"`    // the simulator's mTLS partner API
	TossCAFile     string `json:"tossCaFile"` // the simulator's CA, to trust its certificate
	Sandbox        string `json:"sandbox"`    // where the simulator mints authorization codes
	// EventQueueURL is the local queue the event consumer delivers to (through the local bus and
	// its rule), "" when the stack delivers no events.
	EventQueueURL string `json:"eventQueueUrl,omitempty"`
}

// Path is where the file is: $TOSS_MIGRATION_LOCAL_STATE, or toss-migration/local-stack.json in
// the user's cache directory.
func Path(getenv func(string) string) (string, error) {
	if p := getenv(EnvPath); p != "" {
		return p, nil
	}
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no cache directory for the local stack's state file (set %s): %w", EnvPath, err)
	}
	return filepath.Join(dir, "toss-migration", "local-stack.json"), nil
}

// Write stores s at path, atomically (a reader never sees half a file), readable by this user only.
func Write(path string, s State) error {
	raw, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".local-stack-*.json")
	if err != nil {
		return err
	}
	_, err = tmp.Write(append(raw, '\n'))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
	return err
}

// Remove deletes the file if it still describes the stack of process pid (a newer `make run`
// may have replaced it).
func Remove(path string, pid int) {
	if s, err := Read(path); err == nil && s.PID == pid {
		os.Remove(path)
	}
}

// ErrNotRunning is a missing state file: no `make run` is serving.
var ErrNotRunning = errors.New("no local stack is running (start one with `make run`)")

// Read loads the file at path.
func Read(path string) (State, error) {
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return State{}, fmt.Errorf("%w: %s does not exist", ErrNotRunning, path)
	}
	if err != nil {
		return State{}, err
	}
	var s State
	if err := json.Unmarshal(raw, &s); err != nil || s.DynamoDB == "" || s.Table == "" {
		return State{}, fmt.Errorf("%s is not a local stack state file", path)
	}
	// A `make run` killed without its cleanup leaves the file behind.
	if p, err := os.FindProcess(s.PID); s.PID <= 0 || err != nil || p.Signal(syscall.Signal(0)) != nil {
		return State{}, fmt.Errorf("%w: the stack recorded in %s (pid %d) has stopped", ErrNotRunning, path, s.PID)
	}
	return s, nil
}
