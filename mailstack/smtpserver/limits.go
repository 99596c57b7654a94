package smtpserver

import (
	"bytes"
	"io"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// limitListener caps concurrent connections, in total and per client IP,
// and wraps each accepted connection in a limitConn. go-smtp has no such
// limits of its own.
type limitListener struct {
	net.Listener
	maxTotal, maxPerIP, maxCmds int
	maxSession                  time.Duration
	log                         *slog.Logger
	// greet, if set, runs in the connection's goroutine before our 220
	// greeting; a non-empty reply replaces the greeting and ends the
	// session (RFC 5321 §3.1: 554 instead of 220).
	greet func(remote net.Addr) string

	mu    sync.Mutex
	total int
	perIP map[string]int
}

func newLimitListener(l net.Listener, maxTotal, maxPerIP, maxCmds int, greet func(net.Addr) string, log *slog.Logger) *limitListener {
	return &limitListener{Listener: l, maxTotal: maxTotal, maxPerIP: maxPerIP, maxCmds: maxCmds, greet: greet, log: log, perIP: map[string]int{}}
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := limitKey(c.RemoteAddr())
		l.mu.Lock()
		ok := l.total < l.maxTotal && l.perIP[ip] < l.maxPerIP
		if ok {
			l.total++
			l.perIP[ip]++
		}
		l.mu.Unlock()
		if !ok {
			l.log.Info("smtp: connection refused: too many connections", "remote_ip", ip)
			go refuse(c, "421 4.7.0 Too many connections, try again later\r\n")
			continue
		}
		lc := &limitConn{Conn: c, maxCmds: l.maxCmds, greet: l.greet}
		if l.maxSession > 0 {
			lc.timer = time.AfterFunc(l.maxSession, func() { c.Close() })
		}
		lc.release = func() {
			l.mu.Lock()
			l.total--
			if l.perIP[ip]--; l.perIP[ip] <= 0 {
				delete(l.perIP, ip)
			}
			l.mu.Unlock()
		}
		return lc, nil
	}
}

// limitKey groups clients for the per-IP limit: the address for IPv4, its
// /64 for IPv6 (one customer's allocation, trivially many addresses).
func limitKey(a net.Addr) string {
	ta, ok := a.(*net.TCPAddr)
	if !ok || ta.IP.To4() != nil {
		return hostOf(a)
	}
	return ta.IP.Mask(net.CIDRMask(64, 128)).String() + "/64"
}

// refuse answers a connection we will not serve and closes it.
func refuse(c net.Conn, reply string) {
	c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, reply)
	c.Close()
}

func hostOf(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP.String()
	}
	h, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return h
}

// Scanner modes for counting commands in the client's byte stream.
const (
	modeCmd  = iota // reading command lines
	modeData        // after a DATA line: until <CRLF>.<CRLF> or a non-354 reply
	modeBdat        // skipping a BDAT chunk
)

// limitConn counts the client's SMTP commands by watching the byte stream
// (go-smtp has no per-command hook). It follows DATA (confirmed by our 354
// reply, found by counting replies) and BDAT chunks so message content is
// not counted. The read that would carry command maxCmds+1 is cut before
// it; the next read answers 421 and reports end of input, ending the
// session after every earlier command got its reply.
type limitConn struct {
	net.Conn
	release func()
	once    sync.Once
	maxCmds int
	timer   *time.Timer // ends the session at MaxSessionTime
	closed  atomic.Bool

	greet   func(net.Addr) string
	greeted bool
	refused bool // the greeting was a refusal: no more input or output

	// After STARTTLS the bytes below TLS are ciphertext: the scanner stops
	// and the session counts its commands instead (countCommand).
	tlsPending bool
	tlsReply   int
	tls        bool

	cmds      int  // command lines seen
	extra     int  // replies not caused by a command line (end of DATA)
	finals    int  // final reply lines written, the greeting included
	dataReply int  // index of the reply to the pending DATA
	confirmed bool // that reply was 354
	exceeded  bool

	mode     int
	line     []byte // first bytes of the current command line
	tail     uint64 // last 5 bytes in data mode, to find CRLF.CRLF
	bdatLeft int64
}

// Close ends the connection with a lingering close: our side is shut
// first (FIN after the last reply) and unread client input is drained
// briefly in the background. Closing with input still unread would make
// the kernel send a reset, and the client could lose our final reply
// (say the 500 after a 10 MB line).
func (c *limitConn) Close() error {
	if c.timer != nil {
		c.timer.Stop()
	}
	var err error
	c.once.Do(func() {
		c.closed.Store(true)
		c.release()
		tc, ok := c.Conn.(*net.TCPConn)
		if !ok {
			err = c.Conn.Close()
			return
		}
		if tc.CloseWrite() != nil {
			err = tc.Close()
			return
		}
		go func() {
			tc.SetReadDeadline(time.Now().Add(lingerTime))
			io.Copy(io.Discard, io.LimitReader(tc, lingerBytes))
			tc.Close()
		}()
	})
	return err
}

// lingerTime and lingerBytes bound the drain after Close.
const (
	lingerTime  = 2 * time.Second
	lingerBytes = 64 << 20
)

func (c *limitConn) Read(b []byte) (int, error) {
	if c.closed.Load() {
		return 0, net.ErrClosed // the drain goroutine owns the socket now
	}
	if c.refused {
		return 0, io.EOF
	}
	if c.exceeded {
		if !c.tls {
			c.Conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
			io.WriteString(c.Conn, "421 4.7.0 Too many commands, closing connection\r\n")
		}
		return 0, io.EOF
	}
	n, err := c.Conn.Read(b)
	if n > 0 && !c.tls {
		if cut, over := c.scan(b[:n]); over {
			c.exceeded = true
			if cut == 0 {
				return c.Read(b)
			}
			return cut, nil
		}
	}
	return n, err
}

func (c *limitConn) Write(b []byte) (int, error) {
	if !c.greeted {
		c.greeted = true
		if c.greet != nil {
			if reply := c.greet(c.Conn.RemoteAddr()); reply != "" {
				c.refused = true
				io.WriteString(c.Conn, reply)
				return len(b), nil
			}
		}
	}
	if c.refused {
		return len(b), nil
	}
	if c.tls {
		return c.Conn.Write(b)
	}
	for rest := b; len(rest) > 0; {
		line := rest
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			line, rest = rest[:i+1], rest[i+1:]
		} else {
			rest = nil
		}
		if len(line) < 4 || line[3] != ' ' {
			continue
		}
		c.finals++
		if c.tlsPending && c.finals == c.tlsReply {
			c.tlsPending = false
			c.tls = bytes.HasPrefix(line, []byte("220"))
		}
		if c.mode == modeData && !c.confirmed && c.finals == c.dataReply {
			if bytes.HasPrefix(line, []byte("354")) {
				c.confirmed = true
			} else {
				c.mode = modeCmd // DATA refused: the client goes on with commands
			}
		}
	}
	return c.Conn.Write(b)
}

// scan advances the command counter over p. When a line would exceed the
// limit it returns over and the length of p before that line.
func (c *limitConn) scan(p []byte) (cut int, over bool) {
	lineStart := 0
	for i := 0; i < len(p); i++ {
		ch := p[i]
		switch c.mode {
		case modeBdat:
			skip := min(int64(len(p)-i), c.bdatLeft)
			c.bdatLeft -= skip
			i += int(skip) - 1
			if c.bdatLeft == 0 {
				c.mode = modeCmd
				lineStart = i + 1
			}
		case modeData:
			c.tail = (c.tail<<8 | uint64(ch)) & 0xffffffffff
			if c.tail == 0x0d0a2e0d0a { // CRLF . CRLF
				c.mode = modeCmd
				c.tail = 0
				c.extra++ // the reply to the message
				lineStart = i + 1
			}
		case modeCmd:
			if ch != '\n' {
				if len(c.line) < 32 {
					c.line = append(c.line, ch)
				}
				continue
			}
			c.cmds++
			if c.cmds > c.maxCmds {
				return lineStart, true
			}
			c.startCommand(bytes.ToUpper(bytes.TrimSpace(c.line)))
			c.line = c.line[:0]
			lineStart = i + 1
		}
	}
	return len(p), false
}

func (c *limitConn) startCommand(line []byte) {
	switch {
	case bytes.Equal(line, []byte("STARTTLS")):
		c.tlsPending = true
		c.tlsReply = 1 + c.cmds + c.extra
	case bytes.Equal(line, []byte("DATA")):
		c.mode = modeData
		c.confirmed = false
		c.dataReply = 1 + c.cmds + c.extra
		c.tail = 0x0d0a // the data starts at a line beginning
	case bytes.HasPrefix(line, []byte("BDAT ")):
		f := bytes.Fields(line[5:])
		if len(f) == 0 {
			return
		}
		if n, err := strconv.ParseInt(string(f[0]), 10, 64); err == nil && n > 0 {
			c.mode = modeBdat
			c.bdatLeft = n
		}
	}
}

// memBudget bounds the message bytes all sessions hold in memory at once.
type memBudget struct {
	mu   sync.Mutex
	cond *sync.Cond
	free int64
}

func newMemBudget(n int64) *memBudget {
	b := &memBudget{free: n}
	b.cond = sync.NewCond(&b.mu)
	return b
}

// acquire waits until n bytes are free and takes them.
func (b *memBudget) acquire(n int64) {
	b.mu.Lock()
	for b.free < n {
		b.cond.Wait()
	}
	b.free -= n
	b.mu.Unlock()
}

func (b *memBudget) release(n int64) {
	b.mu.Lock()
	b.free += n
	b.mu.Unlock()
	b.cond.Broadcast()
}

// countCommand counts one command seen by the session once the stream is
// encrypted; past the limit the connection ends at its next read. It is
// called from the connection's goroutine.
func (c *limitConn) countCommand() bool {
	if !c.tls {
		return true // the scanner counts plaintext commands
	}
	c.cmds++
	if c.cmds > c.maxCmds {
		c.exceeded = true
		return false
	}
	return true
}

// limitConnOf finds our limitConn under a connection (below TLS after
// STARTTLS).
func limitConnOf(nc net.Conn) *limitConn {
	if tc, ok := nc.(interface{ NetConn() net.Conn }); ok {
		nc = tc.NetConn()
	}
	lc, _ := nc.(*limitConn)
	return lc
}
