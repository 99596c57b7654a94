package rooms

import (
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"strings"
	"sync"
	"time"

	"scop/homeserver"
)

// Sliding sync connections live in memory only: a restart, an eviction or
// an idle expiry forgets them, and the client's next pos is answered
// M_UNKNOWN_POS, on which clients start a new connection.
const (
	// maxConnsPerDevice bounds the connections (conn_id values) one device
	// may hold; the least recently used is evicted.
	maxConnsPerDevice = 8
	// maxSnapsPerConn is how many past responses of a connection can be
	// resumed from. A request with pos n drops those before n (the client
	// has moved on), but keeps n: a client that cancels its long poll or
	// loses a response asks again from n, any number of times.
	maxSnapsPerConn = 8
	// connIdle is how long an unused connection is kept.
	connIdle = 30 * time.Minute
)

// SlidingConns holds the sliding sync connections of every device. Create
// it with NewSlidingConns; it is safe for concurrent use.
type SlidingConns struct {
	mu        sync.Mutex
	byDevice  map[string]map[string]*slidingConn // user\x00device → conn_id → connection
	lastSweep time.Time
	now       func() time.Time
}

// NewSlidingConns returns an empty store.
func NewSlidingConns() *SlidingConns {
	return &SlidingConns{byDevice: map[string]map[string]*slidingConn{}, now: time.Now}
}

// slidingConn is one connection: the snapshots its recent responses left.
type slidingConn struct {
	nonce    string // distinguishes a restarted connection with the same conn_id
	nextSeq  int64
	snaps    map[int64]*slidingSnap
	lastUsed time.Time
}

// slidingSnap is what the client knows after one response. It is never
// changed once stored: a request derives a new snapshot from it.
type slidingSnap struct {
	pos, typing int64 // stream position and typing generation covered
	extPos      int64 // the hook's position (device lists)
	rooms       map[string]sentRoom
	counts      map[string]int
	dm          map[string]bool     // rooms of m.direct
	tags        map[string][]string // room → m.tag names
	subs        map[string]SlidingRoomConfig
}

// sentRoom is what the client has of one room.
type sentRoom struct {
	pos        int64  // stream position the room is known up to
	limit      int    // timeline_limit it was sent with
	stateKey   string // required_state it was sent with
	membership string
}

func deviceKey(dev homeserver.Device) string { return dev.UserID + "\x00" + dev.DeviceID }

func unknownPos() error {
	return homeserver.Errorf(homeserver.ErrUnknownPos, "Unknown position: start a new connection")
}

// lookup returns the snapshot a pos names, or M_UNKNOWN_POS. An empty pos
// starts the connection afresh, forgetting its earlier snapshots.
func (c *SlidingConns) lookup(dev homeserver.Device, connID, pos string) (*slidingSnap, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	c.sweep(now)
	conns := c.byDevice[deviceKey(dev)]
	if pos == "" {
		if conns != nil {
			delete(conns, connID)
		}
		return nil, nil
	}
	nonce, seqStr, ok := strings.Cut(pos, "_")
	seq, err := strconv.ParseInt(seqStr, 10, 64)
	if !ok || err != nil {
		return nil, unknownPos()
	}
	conn := conns[connID]
	if conn == nil || conn.nonce != nonce {
		return nil, unknownPos()
	}
	snap := conn.snaps[seq]
	if snap == nil {
		return nil, unknownPos()
	}
	for old := range conn.snaps {
		if old < seq {
			delete(conn.snaps, old)
		}
	}
	conn.lastUsed = now
	return snap, nil
}

// store records a new snapshot derived from the one pos named (nil for a
// new connection) and returns its pos.
func (c *SlidingConns) store(dev homeserver.Device, connID string, from *slidingSnap, snap *slidingSnap) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	k := deviceKey(dev)
	conns := c.byDevice[k]
	if conns == nil {
		conns = map[string]*slidingConn{}
		c.byDevice[k] = conns
	}
	conn := conns[connID]
	if conn == nil || from == nil {
		// Snapshots are self-contained, so a long poll of a connection
		// reset meanwhile may still add to the new one; only a request
		// without pos starts afresh.
		conn = &slidingConn{nonce: randomNonce(), snaps: map[int64]*slidingSnap{}}
		conns[connID] = conn
		if len(conns) > maxConnsPerDevice {
			evictOldest(conns, connID)
		}
	}
	conn.nextSeq++
	conn.snaps[conn.nextSeq] = snap
	conn.lastUsed = now
	for len(conn.snaps) > maxSnapsPerConn {
		// Drop the oldest, sparing the one this request started from.
		oldest := int64(-1)
		for seq, sn := range conn.snaps {
			if sn != from && (oldest < 0 || seq < oldest) {
				oldest = seq
			}
		}
		delete(conn.snaps, oldest)
	}
	return conn.nonce + "_" + strconv.FormatInt(conn.nextSeq, 10)
}

func evictOldest(conns map[string]*slidingConn, keep string) {
	var oldest string
	var at time.Time
	for id, c := range conns {
		if id != keep && (oldest == "" || c.lastUsed.Before(at)) {
			oldest, at = id, c.lastUsed
		}
	}
	delete(conns, oldest)
}

// sweep drops idle connections, at most once a minute (mu held).
func (c *SlidingConns) sweep(now time.Time) {
	if now.Sub(c.lastSweep) < time.Minute {
		return
	}
	c.lastSweep = now
	for k, conns := range c.byDevice {
		for id, conn := range conns {
			if now.Sub(conn.lastUsed) > connIdle {
				delete(conns, id)
			}
		}
		if len(conns) == 0 {
			delete(c.byDevice, k)
		}
	}
}

// Forget drops every connection of a device (on logout or device deletion).
func (c *SlidingConns) Forget(dev homeserver.Device) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.byDevice, deviceKey(dev))
}

func randomNonce() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
