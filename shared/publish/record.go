// Package publish turns the mapping table's stream into the studio's events and puts them on an
// EventBridge bus (docs/events.md). Events are derived from committed writes only — a stream
// record exists exactly when its write committed — and only from u# items, which hold no profile
// field: a record says who linked or unlinked, never what Toss told us about them.
package publish

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

// Source is every event's source.
const Source = "toss-migration"

// Detail types (contract §10).
const (
	UserLinked     = "UserLinked"
	UserUnlinked   = "UserUnlinked"
	MappingMoved   = "MappingMoved"
	MappingRemoved = "MappingRemoved"
)

// Event is one event for the studio: its detail type, its detail (one of the structs below,
// JSON-encoded as docs/events.schema.json describes) and when its write committed.
type Event struct {
	DetailType string
	Detail     any
	Time       time.Time
}

// Meta is in every detail: eventId is the stream record's id (the same on every redelivery, the
// key to de-duplicate on); sequence its sequence number (within one user, a later event has a
// larger one); userKey a decimal string (JSON numbers lose int64 precision in JavaScript).
type Meta struct {
	EventID  string `json:"eventId"`
	Sequence string `json:"sequence"`
	UserKey  string `json:"userKey"`
}

// Linked is the detail of UserLinked.
type Linked struct {
	Meta
	Hash     string `json:"hash"`
	LinkedAt string `json:"linkedAt"`
}

// Unlinked is the detail of UserUnlinked. Hash is null for a user who never linked (the studio
// may still hold that user's legacy data).
type Unlinked struct {
	Meta
	Hash       *string `json:"hash"`
	Referrer   string  `json:"referrer"`
	UnlinkedAt string  `json:"unlinkedAt"`
}

// Moved is the detail of MappingMoved (an operator moved the user to a new hash).
type Moved struct {
	Meta
	Hash         string `json:"hash"`
	PreviousHash string `json:"previousHash"`
	Operator     string `json:"operator"`
	Reason       string `json:"reason"`
	At           string `json:"at"`
}

// Removed is the detail of MappingRemoved (an operator unmapped the user's hash).
type Removed struct {
	Meta
	Hash     string `json:"hash"`
	Operator string `json:"operator"`
	Reason   string `json:"reason"`
	At       string `json:"at"`
}

// ErrBadRecord is a u# record that cannot become an event (malformed, or from a newer writer).
// It is never skipped: the batch fails from it on, and after the retries it reaches the
// dead-letter queue.
var ErrBadRecord = errors.New("stream record cannot become an event")

// FromRecord is the event of one stream record, or nil when the record makes none (h# items, TTL
// removals, a rewrite that changed nothing the studio sees). Only the named attributes are read:
// nothing else of an item can reach an event.
func FromRecord(r events.DynamoDBEventRecord) (*Event, error) {
	pk, _ := str(r.Change.Keys, "pk")
	if !strings.HasPrefix(pk, "u#") || r.EventName == "REMOVE" {
		return nil, nil
	}
	bad := func(why string) error { return fmt.Errorf("%w: record %s: %s", ErrBadRecord, r.EventID, why) }
	userKey := pk[2:]
	if n, err := strconv.ParseInt(userKey, 10, 64); err != nil || n < 0 || strconv.FormatInt(n, 10) != userKey {
		return nil, bad("the key is not u#<userKey>")
	}
	if r.EventID == "" || r.Change.SequenceNumber == "" {
		return nil, bad("no eventID or sequence number")
	}
	img, old := r.Change.NewImage, r.Change.OldImage
	if img == nil {
		return nil, bad("no new image (the stream must be NEW_AND_OLD_IMAGES)")
	}
	meta := Meta{EventID: r.EventID, Sequence: r.Change.SequenceNumber, UserKey: userKey}
	ev := &Event{Time: r.Change.ApproximateCreationDateTime.Time}
	need := func(name string) (string, error) {
		if v, ok := str(img, name); ok && v != "" {
			return v, nil
		}
		return "", bad("no " + name)
	}

	switch state(img) {
	case "linked":
		hash, err := need("hash")
		if err != nil {
			return nil, err
		}
		prev, _ := str(old, "hash")
		switch {
		case state(old) != "linked":
			at, err := need("linkedAt")
			if err != nil {
				return nil, err
			}
			ev.DetailType, ev.Detail = UserLinked, Linked{Meta: meta, Hash: hash, LinkedAt: at}
		case prev == hash:
			return nil, nil // the same mapping rewritten: nothing happened for the studio
		default:
			at, err := need("linkedAt")
			if err != nil {
				return nil, err
			}
			op, _ := str(img, "operator")
			reason, _ := str(img, "reason")
			ev.DetailType, ev.Detail = MappingMoved, Moved{Meta: meta, Hash: hash, PreviousHash: prev, Operator: op, Reason: reason, At: at}
		}
	case "unlinked":
		at, err := need("at")
		if err != nil {
			return nil, err
		}
		d := Unlinked{Meta: meta, UnlinkedAt: at}
		if h, ok := str(img, "unlinkedHash"); ok {
			d.Hash = &h
		}
		d.Referrer, _ = str(img, "referrer")
		ev.DetailType, ev.Detail = UserUnlinked, d
	case "removed":
		var d Removed
		var err error
		for _, f := range []struct {
			name string
			to   *string
		}{{"removedHash", &d.Hash}, {"operator", &d.Operator}, {"reason", &d.Reason}, {"at", &d.At}} {
			if *f.to, err = need(f.name); err != nil {
				return nil, err
			}
		}
		d.Meta = meta
		ev.DetailType, ev.Detail = MappingRemoved, d
	default:
		return nil, bad(fmt.Sprintf("unknown state %q", state(img)))
	}
	return ev, nil
}

// state is a u# image's state; an item from before states existed (a hash, no state) is linked.
func state(img map[string]events.DynamoDBAttributeValue) string {
	if img == nil {
		return ""
	}
	if s, ok := str(img, "state"); ok {
		return s
	}
	if _, ok := str(img, "hash"); ok {
		return "linked"
	}
	return ""
}

func str(img map[string]events.DynamoDBAttributeValue, name string) (string, bool) {
	v, ok := img[name]
	if !ok || v.DataType() != events.DataTypeString {
		return "", false
	}
	return v.String(), true
}
