package spool

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// Bury moves queued id to the dead letters with its final state.
func (s *Spool) Bury(id string, st State) error {
	env, rc, err := s.Open(id)
	if err != nil {
		return err
	}
	msg, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		return fmt.Errorf("spool: bury %s: %w", id, err)
	}
	dead := filepath.Join(s.dir, "dead")
	ej, _ := json.Marshal(env)
	sj, _ := json.Marshal(st)
	var b bytes.Buffer
	b.WriteString(deadMagic)
	b.Write(ej)
	b.WriteByte('\n')
	b.Write(msg)
	if err := writeFileSync(filepath.Join(dead, id+".st"), sj); err != nil {
		return fmt.Errorf("spool: bury %s: %w", id, err)
	}
	if err := writeFileSync(filepath.Join(dead, id+".msg"), b.Bytes()); err != nil {
		return fmt.Errorf("spool: bury %s: %w", id, err)
	}
	if err := syncDir(dead); err != nil {
		return fmt.Errorf("spool: bury %s: %w", id, err)
	}
	return s.Remove(id)
}

const deadMagic = "SCOP-DEAD 1\n"

func (s *Spool) listDead() ([]Item, error) {
	dir := filepath.Join(s.dir, "dead")
	es, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("spool: list dead: %w", err)
	}
	var items []Item
	for _, e := range es {
		id, ok := strings.CutSuffix(e.Name(), ".msg")
		if !ok {
			continue
		}
		f, err := os.Open(filepath.Join(dir, e.Name()))
		if err != nil {
			continue
		}
		br := bufio.NewReader(f)
		m, _ := br.ReadString('\n')
		line, _ := br.ReadBytes('\n')
		f.Close()
		var env Envelope
		if m != deadMagic || json.Unmarshal(line, &env) != nil {
			s.log.Warn("spool: unreadable dead letter", "file", e.Name())
			continue
		}
		var st State
		if b, err := os.ReadFile(filepath.Join(dir, id+".st")); err == nil {
			json.Unmarshal(b, &st)
		}
		var size int64
		if fi, err := e.Info(); err == nil {
			size = fi.Size()
		}
		items = append(items, Item{Envelope: env, State: st, Size: size, Dead: true})
	}
	return items, nil
}

func validID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for _, c := range id {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

func writeFileSync(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
