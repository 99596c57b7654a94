package spam

import (
	"math"
	"math/bits"
	"slices"
)

func sortByDev(probs []float64) {
	slices.SortFunc(probs, func(a, b float64) int {
		da, db := math.Abs(a-0.5), math.Abs(b-0.5)
		switch {
		case da > db:
			return -1
		case da < db:
			return 1
		}
		return 0
	})
}

// sortHashes sorts feature hashes in place. The hashes are uniformly
// distributed and a message has thousands, so one pass on the top bits
// spreads them into buckets of about four, each then sorted on its own:
// two linear passes where a comparison sort's n log n branches, or an
// LSD radix sort's six passes, cost most of the tokenizer's time. A
// bucket that is large all the same (keys that are not uniform) gets the
// comparison sort, so no input is quadratic. Short slices use the
// comparison sort.
func sortHashes(a []uint64) {
	var s sortScratch
	s.sort(a)
}

// sortScratch keeps sortHashes' buffers between messages (Classify pools
// it), so a message's sort allocates nothing once they have grown.
type sortScratch struct {
	buf   []uint64
	start []uint32
}

func (s *sortScratch) sort(a []uint64) {
	n := len(a)
	if n < 256 {
		slices.Sort(a)
		return
	}
	b := min(max(bits.Len(uint(n/4)), 8), 16)
	shift := 64 - b
	nb := 1 << b
	// start[d] is where bucket d begins in buf; next[d] where its next
	// key goes.
	s.start = grow(s.start, 2*nb+1)
	start, next := s.start[:nb+1], s.start[nb+1:]
	clear(start)
	for _, v := range a {
		start[v>>shift+1]++
	}
	for i := 1; i < len(start); i++ {
		start[i] += start[i-1]
	}
	copy(next, start[:nb])
	s.buf = grow(s.buf, n)
	buf := s.buf
	for _, v := range a {
		d := v >> shift
		buf[next[d]] = v
		next[d]++
	}
	for d := range nb {
		bucket := buf[start[d]:start[d+1]]
		if len(bucket) > 24 {
			slices.Sort(bucket)
			continue
		}
		for i := 1; i < len(bucket); i++ {
			v, j := bucket[i], i
			for ; j > 0 && bucket[j-1] > v; j-- {
				bucket[j] = bucket[j-1]
			}
			bucket[j] = v
		}
	}
	copy(a, buf)
}

// grow returns s resized to n, reusing its array when it is large enough.
func grow[T any](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}
