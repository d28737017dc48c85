package store

// This file only declares what store.go will declare once the tombstone lands (contract §10):
// when both are merged, delete this file.

// States of a u# item.
const (
	StateLinked   = "linked"
	StateUnlinked = "unlinked" // the unlink tombstone
	StateRemoved  = "removed"  // an operator's removal marker
)
