package publish

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

type img = map[string]events.DynamoDBAttributeValue

func S(v string) events.DynamoDBAttributeValue { return events.NewStringAttribute(v) }
func N(v string) events.DynamoDBAttributeValue { return events.NewNumberAttribute(v) }

var commit = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

// record builds a stream record of key with its images (nil = absent).
func record(id, seq, name, key string, newImg, oldImg img) events.DynamoDBEventRecord {
	return events.DynamoDBEventRecord{
		EventID: id, EventName: name, EventSource: "aws:dynamodb",
		Change: events.DynamoDBStreamRecord{
			Keys: img{"pk": S(key)}, NewImage: newImg, OldImage: oldImg, SequenceNumber: seq,
			ApproximateCreationDateTime: events.SecondsEpochTime{Time: commit}, StreamViewType: "NEW_AND_OLD_IMAGES",
		},
	}
}

func linked(key, hash, at string) img {
	return img{"pk": S(key), "state": S("linked"), "hash": S(hash), "linkedAt": S(at)}
}

func tomb(key, hash, referrer, at string) img {
	m := img{"pk": S(key), "state": S("unlinked"), "at": S(at), "expiresAt": N("1796119202")}
	if hash != "" {
		m["unlinkedHash"] = S(hash)
	}
	if referrer != "" {
		m["referrer"] = S(referrer)
	}
	return m
}

const t1, t2 = "2026-12-01T10:00:00.000000000Z", "2026-12-01T10:00:05.000000000Z"

func TestEachStreamRecordOfAUserItemBecomesAtMostOneEvent(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		rec    events.DynamoDBEventRecord
		typ    string // "" = no event
		detail string
	}{
		{"a first link", record("e1", "100", "INSERT", "u#443731104", linked("u#443731104", "h-1", t1), nil),
			UserLinked, `{"eventId":"e1","sequence":"100","userKey":"443731104","hash":"h-1","linkedAt":"` + t1 + `"}`},
		{"a link over an old tombstone", record("e2", "101", "MODIFY", "u#7", linked("u#7", "h-2", t2), tomb("u#7", "h-1", "UNLINK", t1)),
			UserLinked, `{"eventId":"e2","sequence":"101","userKey":"7","hash":"h-2","linkedAt":"` + t2 + `"}`},
		{"an unlink of a linked user", record("e3", "102", "MODIFY", "u#7", tomb("u#7", "h-2", "WITHDRAWAL_TERMS", t2), linked("u#7", "h-2", t1)),
			UserUnlinked, `{"eventId":"e3","sequence":"102","userKey":"7","hash":"h-2","referrer":"WITHDRAWAL_TERMS","unlinkedAt":"` + t2 + `"}`},
		{"an unlink of a never-linked user", record("e4", "103", "INSERT", "u#0", tomb("u#0", "", "UNLINK", t1), nil),
			UserUnlinked, `{"eventId":"e4","sequence":"103","userKey":"0","hash":null,"referrer":"UNLINK","unlinkedAt":"` + t1 + `"}`},
		{"an unlink without a referrer", record("e5", "104", "INSERT", "u#9", tomb("u#9", "", "", t1), nil),
			UserUnlinked, `{"eventId":"e5","sequence":"104","userKey":"9","hash":null,"referrer":"","unlinkedAt":"` + t1 + `"}`},
		{"beyond 2^53 the userKey stays exact", record("e6", "105", "INSERT", "u#9007199254740993", linked("u#9007199254740993", "h", t1), nil),
			UserLinked, `{"eventId":"e6","sequence":"105","userKey":"9007199254740993","hash":"h","linkedAt":"` + t1 + `"}`},
		{"an operator move", record("e7", "106", "MODIFY", "u#7",
			img{"pk": S("u#7"), "state": S("linked"), "hash": S("h-new"), "linkedAt": S(t2), "previousHash": S("h-old"), "operator": S("ops@studio"), "reason": S("new SDK hash")},
			linked("u#7", "h-old", t1)),
			MappingMoved, `{"eventId":"e7","sequence":"106","userKey":"7","hash":"h-new","previousHash":"h-old","operator":"ops@studio","reason":"new SDK hash","at":"` + t2 + `"}`},
		{"an operator removal", record("e8", "107", "MODIFY", "u#7",
			img{"pk": S("u#7"), "state": S("removed"), "removedHash": S("h-sq"), "operator": S("ops"), "reason": S("squatted"), "at": S(t2), "expiresAt": N("1")},
			linked("u#7", "h-sq", t1)),
			MappingRemoved, `{"eventId":"e8","sequence":"107","userKey":"7","hash":"h-sq","operator":"ops","reason":"squatted","at":"` + t2 + `"}`},
		{"the same mapping rewritten", record("e9", "108", "MODIFY", "u#7", linked("u#7", "h", t2), linked("u#7", "h", t1)), "", ""},
		{"a TTL removal of a tombstone", record("e10", "109", "REMOVE", "u#7", nil, tomb("u#7", "h", "UNLINK", t1)), "", ""},
		{"a hash item", record("e11", "110", "INSERT", "h#h-1", img{"pk": S("h#h-1"), "userKey": N("7"), "linkedAt": S(t1)}, nil), "", ""},
		{"a hash item's removal", record("e12", "111", "REMOVE", "h#h-1", nil, img{"pk": S("h#h-1"), "userKey": N("7")}), "", ""},
		{"an item from before states existed", record("e13", "112", "INSERT", "u#7", img{"pk": S("u#7"), "hash": S("h"), "linkedAt": S(t1)}, nil),
			UserLinked, `{"eventId":"e13","sequence":"112","userKey":"7","hash":"h","linkedAt":"` + t1 + `"}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			ev, err := FromRecord(c.rec)
			if err != nil {
				t.Fatal(err)
			}
			if c.typ == "" {
				if ev != nil {
					t.Fatalf("want no event, got %+v", ev)
				}
				return
			}
			if ev == nil || ev.DetailType != c.typ {
				t.Fatalf("got %+v, want a %s", ev, c.typ)
			}
			b, _ := json.Marshal(ev.Detail)
			if string(b) != c.detail {
				t.Errorf("detail\n%s\nwant\n%s", b, c.detail)
			}
			if !ev.Time.Equal(commit) {
				t.Errorf("time %v, want the record's commit time", ev.Time)
			}
		})
	}
}

func TestARecordThatCannotBecomeAnEventIsAnErrorNeverSkipped(t *testing.T) {
	t.Parallel()
	for name, rec := range map[string]events.DynamoDBEventRecord{
		"a key that is not a userKey":   record("e", "1", "INSERT", "u#12ab", linked("u#12ab", "h", t1), nil),
		"a negative userKey":            record("e", "1", "INSERT", "u#-1", linked("u#-1", "h", t1), nil),
		"a userKey with a leading zero": record("e", "1", "INSERT", "u#07", linked("u#07", "h", t1), nil),
		"an unknown state":              record("e", "1", "MODIFY", "u#7", img{"pk": S("u#7"), "state": S("frozen")}, nil),
		"a link without a hash":         record("e", "1", "INSERT", "u#7", img{"pk": S("u#7"), "state": S("linked"), "linkedAt": S(t1)}, nil),
		"a tombstone without a time":    record("e", "1", "INSERT", "u#7", img{"pk": S("u#7"), "state": S("unlinked")}, nil),
		"a removal without an operator": record("e", "1", "INSERT", "u#7", img{"pk": S("u#7"), "state": S("removed"), "removedHash": S("h"), "at": S(t1)}, nil),
		"no new image (KEYS_ONLY view)": record("e", "1", "INSERT", "u#7", nil, nil),
		"no sequence number":            record("e", "", "INSERT", "u#7", linked("u#7", "h", t1), nil),
		"a hash of the wrong type":      record("e", "1", "INSERT", "u#7", img{"pk": S("u#7"), "state": S("linked"), "hash": N("5"), "linkedAt": S(t1)}, nil),
	} {
		if ev, err := FromRecord(rec); !errors.Is(err, ErrBadRecord) || ev != nil {
			t.Errorf("%s: %+v %v, want ErrBadRecord", name, ev, err)
		}
	}
}

// Even if an item carried profile fields (h# items do when KEEP_PROFILE_FIELDS is set; a u#
// item never should), none reaches an event: details are built from named attributes only.
func TestNoEventEverCarriesAProfileField(t *testing.T) {
	t.Parallel()
	profile := map[string]string{"name": "홍길동", "phone": "01012345678", "birthday": "19930324", "ci": "CI-SENTINEL",
		"gender": "MALE", "nationality": "LOCAL", "email": "a@b.example"}
	withProfile := func(m img) img {
		p := img{}
		for k, v := range profile {
			m[k] = S(v)
			p[k] = S(v)
		}
		m["profile"] = events.NewMapAttribute(p)
		m["accessToken"], m["authorizationCode"] = S("TOKEN-SENTINEL"), S("CODE-SENTINEL")
		return m
	}
	recs := []events.DynamoDBEventRecord{
		record("a", "1", "INSERT", "h#h", withProfile(img{"pk": S("h#h"), "userKey": N("7"), "linkedAt": S(t1)}), nil),
		record("b", "2", "INSERT", "u#7", withProfile(linked("u#7", "h", t1)), nil),
		record("c", "3", "MODIFY", "u#7", withProfile(tomb("u#7", "h", "UNLINK", t2)), withProfile(linked("u#7", "h", t1))),
		record("d", "4", "MODIFY", "u#7", withProfile(img{"pk": S("u#7"), "state": S("linked"), "hash": S("h2"), "linkedAt": S(t2),
			"operator": S("op"), "reason": S("r")}), withProfile(linked("u#7", "h", t1))),
		record("e", "5", "MODIFY", "u#7", withProfile(img{"pk": S("u#7"), "state": S("removed"), "removedHash": S("h2"),
			"operator": S("op"), "reason": S("r"), "at": S(t2)}), nil),
	}
	events := 0
	for _, r := range recs {
		ev, err := FromRecord(r)
		if err != nil {
			t.Fatal(err)
		}
		if ev == nil {
			continue
		}
		events++
		b, _ := json.Marshal(ev.Detail)
		var keys map[string]any
		json.Unmarshal(b, &keys)
		for k := range keys {
			if _, isProfile := profile[k]; isProfile || k == "profile" {
				t.Errorf("%s carries the field %s", ev.DetailType, k)
			}
		}
		for _, v := range append(mapValues(profile), "TOKEN-SENTINEL", "CODE-SENTINEL") {
			if strings.Contains(string(b), v) {
				t.Errorf("%s carries %q: %s", ev.DetailType, v, b)
			}
		}
	}
	if events != 4 {
		t.Fatalf("%d events from 4 user records and a hash record, want 4", events)
	}
}

func mapValues(m map[string]string) []string {
	var out []string
	for _, v := range m {
		out = append(out, v)
	}
	return out
}
