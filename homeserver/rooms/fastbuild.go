package rooms

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	gmsl "github.com/matrix-org/gomatrixserverlib"
	"github.com/matrix-org/gomatrixserverlib/spec"
)

// The fast path builds the commonest event, a message (a non-state event
// whose content redaction strips entirely), by writing its canonical JSON
// directly: GMSL's EventBuilder.Build gets the same bytes through about a
// dozen JSON marshal/unmarshal round trips, which cost most of a send's
// CPU. Anything it does not cover (state events, redactions, event types
// whose content survives redaction, other room versions, content GMSL's
// canonicaliser would not reproduce) goes through GMSL, and so does any
// error, so that errors read exactly as before. fastbuild_test.go checks
// the output byte for byte against Build.

// fastVersions are the room versions the fast path covers: event format
// 2, URL-safe hash event IDs, and one of the two redaction algorithms it
// knows (with or without "origin").
var fastVersions = map[gmsl.RoomVersion]bool{
	gmsl.RoomVersionV10: true, gmsl.RoomVersionV11: true, gmsl.RoomVersionV12: true,
}

// keepsContent lists the event types whose content (or part of it)
// survives redaction in some room version: their signed form depends on
// the content, so they take GMSL's path.
var keepsContent = map[string]bool{
	spec.MRoomMember: true, spec.MRoomCreate: true, spec.MRoomJoinRules: true, spec.MRoomPowerLevels: true,
	spec.MRoomHistoryVisibility: true, "m.room.aliases": true, spec.MRoomRedaction: true,
}

// redactionShape is what a room version's redaction keeps of a message
// event's top-level keys, probed once from GMSL itself.
type redactionShape struct {
	ok         bool // the probe gave the expected shape
	keepOrigin bool
}

var shapes sync.Map // gmsl.RoomVersion → redactionShape

// shapeOf probes ver's redaction algorithm with a sample message event.
func shapeOf(ver gmsl.IRoomVersion) redactionShape {
	if v, ok := shapes.Load(ver.Version()); ok {
		return v.(redactionShape)
	}
	sample := []byte(`{"auth_events":["$a"],"content":{"body":"x","membership":"join"},"depth":2,` +
		`"hashes":{"sha256":"h"},"origin":"o","origin_server_ts":1,"prev_events":["$p"],` +
		`"room_id":"!r:o","sender":"@s:o","signatures":{"o":{"ed25519:k":"s"}},"type":"m.room.message"}`)
	var sh redactionShape
	if red, err := ver.RedactEventJSON(sample); err == nil {
		if canon, err := gmsl.CanonicalJSON(red); err == nil {
			const body = `{"auth_events":["$a"],"content":{},"depth":2,"hashes":{"sha256":"h"},%s` +
				`"origin_server_ts":1,"prev_events":["$p"],"room_id":"!r:o","sender":"@s:o",` +
				`"signatures":{"o":{"ed25519:k":"s"}},"type":"m.room.message"}`
			switch string(canon) {
			case expand(body, `"origin":"o",`):
				sh = redactionShape{ok: true, keepOrigin: true}
			case expand(body, ""):
				sh = redactionShape{ok: true}
			}
		}
	}
	shapes.Store(ver.Version(), sh)
	return sh
}

func expand(tmpl, origin string) string {
	return string(bytes.Replace([]byte(tmpl), []byte("%s"), []byte(origin), 1))
}

// fastEligible reports whether the fast path may build p in ver.
func fastEligible(ver gmsl.IRoomVersion, p proto) bool {
	return p.StateKey == nil && p.Redacts == "" && fastVersions[ver.Version()] && !keepsContent[p.Type] &&
		startsObject(p.Content) && utf8.ValidString(p.Type) && utf8.Valid(p.Content)
}

// startsObject reports whether JSON b is an object (redaction parses
// content as one).
func startsObject(b []byte) bool {
	b = bytes.TrimLeft(b, " \t\r\n")
	return len(b) > 0 && b[0] == '{'
}

// fastBuild builds, hashes and signs a message event as Build would with
// the same inputs, and renders its client format from the same bytes. ok
// is false when the event is not covered or anything failed: the caller
// then builds it with GMSL.
func (s *Service) fastBuild(ver gmsl.IRoomVersion, roomID string, p proto, prev []string, depth int64,
	auth gmsl.AuthEventProvider, now time.Time) (pdu gmsl.PDU, client []byte, ok bool) {
	if !fastEligible(ver, p) || !utf8.ValidString(roomID) || !utf8.ValidString(p.Sender) {
		return nil, nil, false
	}
	sh := shapeOf(ver)
	if !sh.ok {
		return nil, nil, false
	}
	// The same auth event selection as EventBuilder.AddAuthEvents.
	needed, err := gmsl.StateNeededForProtoEvent(&gmsl.ProtoEvent{SenderID: p.Sender, Type: p.Type, Content: spec.RawJSON(p.Content), Version: ver})
	if err != nil {
		return nil, nil, false
	}
	authIDs, err := needed.AuthEventReferences(auth)
	if err != nil {
		return nil, nil, false
	}
	if ver.DomainlessRoomIDs() {
		create := "$" + roomID[1:]
		kept := authIDs[:0]
		for _, id := range authIDs {
			if id != create {
				kept = append(kept, id)
			}
		}
		authIDs = kept
	}
	// Build checks the integer and float rules on the whole event; only
	// the content is not ours.
	if ver.CheckCanonicalJSON(p.Content) != nil {
		return nil, nil, false
	}
	content, err := gmsl.CanonicalJSON(p.Content)
	if err != nil {
		return nil, nil, false
	}
	// GMSL's canonicaliser is not idempotent on every input (it unescapes
	// object keys); Build applies it several times, so only a fixed point
	// is sure to come out the same. Without a backslash nothing is
	// unescaped and the output is a fixed point.
	if bytes.IndexByte(content, '\\') >= 0 {
		if again, err := gmsl.CanonicalJSON(content); err != nil || !bytes.Equal(again, content) {
			return nil, nil, false
		}
	}

	origin := s.id.ServerName
	ts := int64(spec.AsTimestamp(now))
	// The pieces are written once into a pooled scratch buffer, in the
	// sorted order of the top-level keys: auth_events, content, depth,
	// [hashes], origin, origin_server_ts, prev_events, room_id, sender,
	// [signatures], type. Only the final event is allocated.
	scp := scratch.Get().(*[]byte)
	sc := (*scp)[:0]
	defer func() {
		if cap(sc) <= maxScratch {
			*scp = sc
			scratch.Put(scp)
		}
	}()
	sc = append(sc, `{"auth_events":`...)
	sc = appendIDList(sc, authIDs)
	sc = append(sc, `,"content":`...)
	contentAt := len(sc)
	sc = append(sc, content...)
	contentEnd := len(sc)
	sc = append(sc, `,"depth":`...)
	sc = strconv.AppendInt(sc, depth, 10)
	headEnd := len(sc)
	sc = append(sc, `,"origin":`...)
	sc = appendCanonicalString(sc, origin)
	originEnd := len(sc)
	sc = append(sc, `,"origin_server_ts":`...)
	sc = strconv.AppendInt(sc, ts, 10)
	sc = append(sc, `,"prev_events":`...)
	sc = appendIDList(sc, prev)
	sc = append(sc, `,"room_id":`...)
	sc = appendCanonicalString(sc, roomID)
	sc = append(sc, `,"sender":`...)
	sc = appendCanonicalString(sc, p.Sender)
	restEnd := len(sc)
	sc = append(sc, `,"type":`...)
	sc = appendCanonicalString(sc, p.Type)
	sc = append(sc, '}')
	tailEnd := len(sc)

	// Content hash: the event without hashes, signatures and unsigned,
	// which is exactly what was written so far.
	sum := sha256.Sum256(sc[:tailEnd])
	sc = append(sc, `,"hashes":{"sha256":"`...)
	sc = base64.RawStdEncoding.AppendEncode(sc, sum[:])
	sc = append(sc, `"}`...)
	hashesEnd := len(sc)

	// The redacted form is both what is signed and what the event ID is
	// the hash of (neither includes signatures or unsigned).
	redAt := len(sc)
	sc = append(sc, sc[:contentAt]...)
	sc = append(sc, `{}`...)
	sc = append(sc, sc[contentEnd:headEnd]...)
	sc = append(sc, sc[tailEnd:hashesEnd]...)
	if sh.keepOrigin {
		sc = append(sc, sc[headEnd:originEnd]...)
	}
	sc = append(sc, sc[originEnd:tailEnd]...)
	red := sc[redAt:]
	ref := sha256.Sum256(red)
	eventID := "$" + base64.RawURLEncoding.EncodeToString(ref[:])
	var sig [ed25519.SignatureSize]byte
	copy(sig[:], ed25519.Sign(s.id.Key, red))

	full := make([]byte, 0, hashesEnd+len(origin)+len(s.id.KeyID)+120)
	full = append(full, sc[:headEnd]...)
	full = append(full, sc[tailEnd:hashesEnd]...)
	full = append(full, sc[headEnd:restEnd]...)
	full = append(full, `,"signatures":{`...)
	full = appendCanonicalString(full, origin)
	full = append(full, ":{"...)
	full = appendCanonicalString(full, s.id.KeyID)
	full = append(full, `:"`...)
	full = base64.RawStdEncoding.AppendEncode(full, sig[:])
	full = append(full, `"}}`...)
	full = append(full, sc[restEnd:tailEnd]...)

	pdu, err = ver.NewEventFromTrustedJSONWithEventID(eventID, full, false)
	if err != nil || gmsl.CheckFields(pdu) != nil {
		return nil, nil, false
	}
	return pdu, fastClientJSON(content, eventID, ts, roomID, p.Sender, p.Type), true
}

// scratch holds the buffers fastBuild writes an event's pieces into.
var scratch = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

// maxScratch is the largest scratch buffer kept for reuse (an event is at
// most 64 KiB; its pieces take about twice that).
const maxScratch = 160 << 10

// fastClientJSON renders what clientJSON renders for a message event:
// json.Marshal's bytes, which are the canonical pieces HTML-escaped.
func fastClientJSON(content []byte, eventID string, ts int64, roomID, sender, typ string) []byte {
	b := make([]byte, 0, len(content)+len(eventID)+len(roomID)+len(sender)+len(typ)+96)
	b = append(b, `{"content":`...)
	b = append(b, content...)
	b = append(b, `,"event_id":`...)
	b = appendCanonicalString(b, eventID)
	b = append(b, `,"origin_server_ts":`...)
	b = strconv.AppendInt(b, ts, 10)
	b = append(b, `,"room_id":`...)
	b = appendCanonicalString(b, roomID)
	b = append(b, `,"sender":`...)
	b = appendCanonicalString(b, sender)
	b = append(b, `,"type":`...)
	b = appendCanonicalString(b, typ)
	b = append(b, '}')
	if bytes.ContainsAny(b, "<>&\u2028\u2029") {
		var esc bytes.Buffer
		json.HTMLEscape(&esc, b)
		return esc.Bytes()
	}
	return b
}

// appendIDList appends a JSON array of event IDs.
func appendIDList(b []byte, ids []string) []byte {
	b = append(b, '[')
	for i, id := range ids {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendCanonicalString(b, id)
	}
	return append(b, ']')
}

// appendCanonicalString appends s (valid UTF-8) as a canonical JSON
// string: only '"', '\\' and control characters are escaped, with the
// short escapes where JSON has them and lower-case \u00XX otherwise.
func appendCanonicalString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\b':
			b = append(b, '\\', 'b')
		case '\t':
			b = append(b, '\\', 't')
		case '\n':
			b = append(b, '\\', 'n')
		case '\f':
			b = append(b, '\\', 'f')
		case '\r':
			b = append(b, '\\', 'r')
		default:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// allowKey identifies an auth decision for a fast-built event: for these
// event types gmsl.Allowed reads only the room ID, sender and type of the
// event and the create, power levels and sender's member events, which
// event IDs identify.
type allowKey struct{ room, typ, sender, create, powerLevels, member string }

// allowedOK remembers fast-built events' auth decisions that passed, so a
// stream of messages does not parse the power levels for each. Refusals
// are not remembered: their messages name the event.
var (
	allowedOK    sync.Map // allowKey → struct{}
	allowedCount atomic.Int64
)

// maxAllowed bounds allowedOK; it is emptied when full.
const maxAllowed = 4096

// allowedFast is allowed for a fast-built event, with the decision cache.
func allowedFast(pdu gmsl.PDU, auth gmsl.AuthEventProvider) error {
	k, ok := allowKeyOf(pdu, auth)
	ok = ok && auth.Valid()
	if ok {
		if _, hit := allowedOK.Load(k); hit {
			return nil
		}
	}
	if err := allowed(pdu, auth); err != nil {
		return err
	}
	if ok {
		if allowedCount.Add(1) > maxAllowed {
			allowedOK.Clear()
			allowedCount.Store(0)
		}
		allowedOK.Store(k, struct{}{})
	}
	return nil
}

func allowKeyOf(pdu gmsl.PDU, auth gmsl.AuthEventProvider) (allowKey, bool) {
	k := allowKey{room: pdu.RoomID().String(), typ: pdu.Type(), sender: string(pdu.SenderID())}
	create, err := auth.Create()
	if err != nil || create == nil {
		return k, false
	}
	k.create = create.EventID()
	if pl, err := auth.PowerLevels(); err != nil {
		return k, false
	} else if pl != nil {
		k.powerLevels = pl.EventID()
	}
	m, err := auth.Member(pdu.SenderID())
	if err != nil || m == nil {
		return k, false
	}
	k.member = m.EventID()
	return k, true
}
