package haproxy

import (
	"fmt"
	"math"
)

// Weights is the weight every server of each side gets: with Canary on each
// of nc canary servers and Stable on each of ns stable servers, roundrobin
// sends the canary nc*Canary / (nc*Canary + ns*Stable) of the requests.
type Weights struct {
	Stable, Canary int
}

// Share returns the percentage of requests the canary gets with w on nc
// canary servers and ns stable servers, and false when no server has
// weight (the backend would serve nothing).
func (w Weights) Share(nc, ns int) (float64, bool) {
	return share(nc*w.Canary, ns*w.Stable)
}

// share returns 100*c/(c+s), computed so that a whole or exact share is the
// float it should be (100*7/100 is 7, not 7.000000000000001).
func share(c, s int) (float64, bool) {
	if c+s <= 0 {
		return 0, false
	}
	return float64(100*c) / float64(c+s), true
}

// WeightsFor returns the weights that give the canary percent of the
// requests of a backend with nc canary servers and ns stable servers, and
// the share they realise. Of the pairs within tolerance percentage points
// of percent it returns the nearest, and among equally near ones the
// smallest: 1 and 1 for 50%, 1 and 9 for 10%, 0 and 1 for 0%, 1 and 0 for
// 100%. When no pair is within tolerance, the error wraps
// [ErrUnrealisable] and names the nearest share.
//
// A percent strictly between 0 and 100 never gets a weight of 0 on either
// side, whatever the tolerance: a canary asked for 0.1% gets some traffic or
// an error, never none, and the stable version keeps some traffic until it
// is asked to give it all.
func WeightsFor(percent float64, nc, ns int, tolerance float64) (Weights, float64, error) {
	if math.IsNaN(percent) || percent < 0 || percent > 100 {
		return Weights{}, 0, fmt.Errorf("%w: percent must be between 0 and 100, got %v", ErrInvalid, percent)
	}
	if nc < 1 || ns < 1 {
		return Weights{}, 0, fmt.Errorf("%w: each side needs a server, got %d canary and %d stable", ErrInvalid, nc, ns)
	}
	switch percent {
	case 0:
		return Weights{Stable: 1}, 0, nil
	case 100:
		return Weights{Canary: 1}, 100, nil
	}
	// For each canary weight a, the stable weight b that makes the ratio
	// right is a*nc*(100-p)/(p*ns); its floor and ceiling are the only
	// candidates for that a. 257 values of a: no search is cheaper to read.
	best, bestErr, bestShare := Weights{}, math.Inf(1), 0.0
	for a := 1; a <= MaxWeight; a++ {
		// Clamped before the conversion: a share near 0 makes it huge.
		ideal := min(float64(a*nc)*(100-percent)/(percent*float64(ns)), MaxWeight+1)
		for _, b := range [2]int{int(math.Floor(ideal)), int(math.Ceil(ideal))} {
			b = min(max(b, 1), MaxWeight)
			s, _ := share(a*nc, b*ns)
			e := math.Abs(s - percent)
			// Strictly better only: the first (smallest) pair wins ties.
			if e < bestErr-1e-12 {
				best, bestErr, bestShare = Weights{Stable: b, Canary: a}, e, s
			}
		}
	}
	if bestErr > tolerance+1e-9 {
		return Weights{}, 0, fmt.Errorf("%w: %v%% with %d canary and %d stable servers: the nearest is %.4g%% (canary weight %d, stable weight %d); set Config.Tolerance to accept it",
			ErrUnrealisable, percent, nc, ns, bestShare, best.Canary, best.Stable)
	}
	return best, bestShare, nil
}
