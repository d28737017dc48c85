// Command migrationctl is the operator's tool for a deployed migration server: look a mapping up,
// count and export the mappings, measure how many of the studio's legacy users are mapped, fix a
// mapping, and check the secret the functions read. It uses the standard AWS credential chain
// and region; --local talks to the stack `make run` serves. docs/migrationctl.md is its manual.
//
//	migrationctl [--table NAME | --stack NAME | --local] [--json] COMMAND [flags]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/aws/aws-sdk-go-v2/config"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], sys{
		stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv,
		stderrTerminal: isTerminal(os.Stderr),
	})
	stop()
	os.Exit(code)
}

// sys is the process's surroundings, so that tests run the whole CLI in process.
type sys struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	getenv         func(string) string
	stderrTerminal bool // draw progress bars
	// awsOptions are added to config.LoadDefaultConfig's (tests: static credentials).
	awsOptions []func(*config.LoadOptions) error
}

// Exit codes.
const (
	exitOK    = 0
	exitError = 1 // the command failed, or check found a fault
	exitUsage = 2 // bad flags or arguments
)

// command is one subcommand. setup registers its flags and returns what runs after parsing.
type command struct {
	name, args, summary string
	setup               func(fs *flag.FlagSet, a *app) func(ctx context.Context) error
}

func commands() []command {
	return []command{
		lookupCommand(), statsCommand(), coverageCommand(), exportCommand(),
		unmapCommand(), moveCommand(), checkCommand(), eventsCommand(),
	}
}

// usageError is a mistake on the command line: exit 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

func run(ctx context.Context, args []string, s sys) int {
	a := &app{sys: s}
	root := flag.NewFlagSet("migrationctl", flag.ContinueOnError)
	root.SetOutput(io.Discard)
	a.g.register(root)
	if err := root.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(s.stdout, rootUsage(root))
			return exitOK
		}
		return a.fail(usagef("%v", err))
	}
	rest := root.Args()
	if len(rest) == 0 {
		fmt.Fprint(s.stderr, rootUsage(root))
		return exitUsage
	}
	name := rest[0]
	if name == "help" {
		if len(rest) > 1 {
			name, rest = rest[1], []string{rest[1], "-h"}
		} else {
			fmt.Fprint(s.stdout, rootUsage(root))
			return exitOK
		}
	}
	var cmd *command
	for _, c := range commands() {
		if c.name == name {
			cmd = &c
			break
		}
	}
	if cmd == nil {
		return a.fail(usagef("unknown command %q (commands: %s)", name, commandNames()))
	}
	fs := flag.NewFlagSet("migrationctl "+cmd.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	body := cmd.setup(fs, a)
	a.g.register(fs) // the global flags also work after the command's name
	if err := fs.Parse(rest[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(s.stdout, commandUsage(cmd, fs))
			return exitOK
		}
		return a.fail(usagef("%s: %v", cmd.name, err))
	}
	if fs.NArg() > 0 {
		return a.fail(usagef("%s: unexpected argument %q", cmd.name, fs.Arg(0)))
	}
	if err := a.g.check(); err != nil {
		return a.fail(err)
	}
	if err := body(ctx); err != nil {
		return a.fail(err)
	}
	return a.exitCode
}

// fail prints err as one line on stderr and returns its exit code.
func (a *app) fail(err error) int {
	var u *usageError
	if errors.As(err, &u) {
		fmt.Fprintf(a.sys.stderr, "migrationctl: %s (see migrationctl help)\n", oneLine(u.msg))
		return exitUsage
	}
	fmt.Fprintf(a.sys.stderr, "migrationctl: %s\n", oneLine(explain(err)))
	return exitError
}

func commandNames() string {
	var names []string
	for _, c := range commands() {
		names = append(names, c.name)
	}
	return strings.Join(names, ", ")
}

func rootUsage(fs *flag.FlagSet) string {
	var b strings.Builder
	b.WriteString(`migrationctl: operate the Toss login -> game login migration (docs/migrationctl.md)

usage: migrationctl [--table NAME | --stack NAME | --local] [--json] COMMAND [flags]

commands:
`)
	for _, c := range commands() {
		fmt.Fprintf(&b, "  %-9s %s\n", c.name, c.summary)
	}
	b.WriteString("\nglobal flags (before or after the command):\n")
	b.WriteString(flagDefaults(fs))
	b.WriteString("\nmigrationctl help COMMAND shows a command's flags.\n")
	return b.String()
}

func commandUsage(c *command, fs *flag.FlagSet) string {
	return fmt.Sprintf("usage: migrationctl [global flags] %s %s\n\n%s\n\nflags:\n%s", c.name, c.args, c.summary, flagDefaults(fs))
}

func flagDefaults(fs *flag.FlagSet) string {
	var b strings.Builder
	fs.SetOutput(&b)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
	return b.String()
}

// oneLine keeps an error on one line: SDK errors can span several.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
