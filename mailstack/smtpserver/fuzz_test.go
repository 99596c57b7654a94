package smtpserver

import (
	"bufio"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	fuzzOnce sync.Once
	fuzzAddr string
)

// FuzzSMTPSession feeds arbitrary client bytes to a real receiver over
// loopback: the server must not crash, and every line it answers must be
// a well-formed reply (three digits, space or dash, CRLF).
func FuzzSMTPSession(f *testing.F) {
	seeds := []string{
		"EHLO a\r\nMAIL FROM:<x@y.test>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\nSubject: s\r\n\r\nb\r\n.\r\nQUIT\r\n",
		"HELO a\r\nMAIL FROM:<> BODY=8BITMIME SIZE=10\r\nRCPT TO:<bob@example.org> NOTIFY=NEVER\r\nBDAT 3 LAST\r\nabc",
		"EHLO a\r\nSTARTTLS\r\n",
		"EHLO \x00\r\nMAIL FROM:<\xff@\xfe>\r\nRCPT TO:<a\r@example.org>\r\n",
		"EHLO a\nRSET\nNOOP\nVRFY x\nEXPN y\nHELP\nAUTH PLAIN\n",
		"EHLO a\r\nMAIL FROM:<a@b> SMTPUTF8\r\nRCPT TO:<ä@example.org>\r\nDATA\r\n.\r\n",
		"EHLO a\r\nBDAT 99999999999\r\n",
		"DATA\r\n\r\n.\r\n" + strings.Repeat("X", 3000) + "\r\n",
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	fuzzOnce.Do(func() {
		addr, _ := testServer(f, func(o *Options) {
			o.Limits.ReadTimeout = 2 * time.Second
		})
		fuzzAddr = addr
	})
	f.Fuzz(func(t *testing.T, in []byte) {
		c, err := net.Dial("tcp", fuzzAddr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		go func() {
			c.Write(in)
			c.(*net.TCPConn).CloseWrite()
		}()
		br := bufio.NewReader(c)
		for {
			line, err := br.ReadString('\n')
			if line != "" && !validReplyLine(line) {
				t.Fatalf("invalid reply line %q for input %q", line, in)
			}
			if err != nil {
				return
			}
		}
	})
}
