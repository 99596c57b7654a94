package spam

import (
	"math"
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

// radixBits is the digit width of sortHashes: six passes of 11 bits
// cover 64-bit keys with 2,048-entry histograms that stay in L1 cache.
const (
	radixBits   = 11
	radixPasses = (64 + radixBits - 1) / radixBits
	radixSize   = 1 << radixBits
)

// sortHashes sorts feature hashes in place. An LSD radix sort: the
// hashes are uniformly distributed and a message has thousands, where a
// comparison sort's n log n branches cost most of the tokenizer's time.
// Short slices use the comparison sort.
func sortHashes(a []uint64) {
	if len(a) < 256 {
		slices.Sort(a)
		return
	}
	var hist [radixPasses][radixSize]uint32
	for _, v := range a {
		for p := range radixPasses {
			hist[p][(v>>(p*radixBits))&(radixSize-1)]++
		}
	}
	buf := make([]uint64, len(a))
	src, dst := a, buf
	for p := range radixPasses {
		h := &hist[p]
		if h[a[0]>>(p*radixBits)&(radixSize-1)] == uint32(len(a)) {
			continue // every key has the same digit: nothing to move
		}
		var sum uint32
		for i := range h {
			sum, h[i] = sum+h[i], sum
		}
		shift := p * radixBits
		for _, v := range src {
			d := (v >> shift) & (radixSize - 1)
			dst[h[d]] = v
			h[d]++
		}
		src, dst = dst, src
	}
	if &src[0] != &a[0] {
		copy(a, src)
	}
}
