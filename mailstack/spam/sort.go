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
