// Package apperr is the vocabulary of outcomes shared by every layer: the store, the Toss client and
// the domain wrap these sentinels, and the HTTP layer alone turns them into status codes.
package apperr

import "errors"

// Outcomes a caller can act on. Wrap them with %w and context; compare with errors.Is.
var (
	ErrHashLinked      = errors.New("hash is already linked to another user")
	ErrUserLinked      = errors.New("user is already linked to another hash")
	ErrInvalidCode     = errors.New("authorization code rejected by Toss")
	ErrTossUnavailable = errors.New("the Toss partner API is unavailable")
	ErrUnavailable     = errors.New("a dependency is unavailable")
	ErrNotConfigured   = errors.New("required configuration is missing")
	ErrUnauthorized    = errors.New("unauthorized")
	// ErrSandboxRefused is a link from the sandbox app on a deployment that refuses them.
	ErrSandboxRefused = errors.New("links from the sandbox app are refused by this deployment")
)

// ErrUnlinkedMeanwhile: the user's unlink (or an operator's removal) committed after this link
// began, so the link wrote nothing; the client must call appLogin() again (contract §10).
var ErrUnlinkedMeanwhile = errors.New("the user was unlinked while this link was in flight")

// InputError is a client mistake. Its message is written for the client, so it must never carry
// secrets, codes or internals.
type InputError struct{ Msg string }

func (e *InputError) Error() string { return e.Msg }

// Input builds an InputError.
func Input(msg string) error { return &InputError{Msg: msg} }

// TooLargeError is a body over the configured limit.
type TooLargeError struct{ Limit int }

func (e *TooLargeError) Error() string { return "request body too large" }
