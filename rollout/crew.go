package rollout

import (
	"sync"
	"sync/atomic"
)

// A crew runs the calls of one round on goroutines it reuses.
//
// Every call must be able to start at once (a batch with no concurrency
// limit deploys all its targets together, and a deploy may take minutes), so
// a call never waits for a worker: whoever takes a call from the queue
// first makes sure another worker is free for the rest. When calls take
// long this starts one goroutine per call, as a go statement per call
// would; when they are quick, a few workers run them all, and each
// worker's stack, once grown by the first call down the hands' frames,
// serves the next ones without being grown and copied again. That copying
// was the largest single cost of the driver on a large fleet.
type crew struct {
	run  func(*roundCall, *Observation) bool // performs a call into the worker's scratch; false: the worker must go (its call was abandoned)
	work chan *roundCall
	wg   *sync.WaitGroup // one count per worker that is not abandoned

	queued atomic.Int64 // calls submitted and not yet taken
	free   atomic.Int64 // workers started or between calls, not running one
}

// newCrew returns a crew whose queue holds size calls without blocking;
// wg counts its workers.
func newCrew(size int, wg *sync.WaitGroup, run func(*roundCall, *Observation) bool) *crew {
	return &crew{run: run, work: make(chan *roundCall, max(size, 1)), wg: wg}
}

// submit queues c, starting a worker when none is free to take it.
func (k *crew) submit(c *roundCall) {
	k.queued.Add(1)
	select {
	case k.work <- c:
	default:
		// The queue is full (calls added in the middle of a round): a
		// worker of its own.
		k.queued.Add(-1)
		k.free.Add(1)
		k.start(c)
		return
	}
	if k.free.Load() == 0 {
		k.free.Add(1)
		k.start(nil)
	}
}

func (k *crew) start(first *roundCall) {
	k.wg.Add(1)
	go k.worker(first)
}

// worker takes calls while calls are queued, and goes when none is.
// Taking a call, it starts another worker if calls are still queued and
// no other worker is free, so that no queued call waits for this one to
// finish. It never waits for work: an idle worker would be one more
// goroutine to end, and to wait for, at the end of every round.
func (k *crew) worker(c *roundCall) {
	// The answer is written here first, not into the round's slot: a
	// call abandoned by the round must not write where the round has
	// moved on from.
	var scratch Observation
	for {
		if c == nil {
			select {
			case c = <-k.work:
				k.queued.Add(-1)
			default:
				// Nothing queued. A call submitted meanwhile saw this
				// worker free, and started none: look once more after
				// saying so (submit looks at free after queueing).
				k.free.Add(-1)
				if k.queued.Load() > 0 {
					k.free.Add(1)
					continue
				}
				k.wg.Done()
				return
			}
		}
		if k.free.Add(-1) == 0 && k.queued.Load() > 0 {
			k.free.Add(1)
			k.start(nil)
		}
		if !k.run(c, &scratch) {
			return // abandoned: the round stopped counting this worker
		}
		k.free.Add(1)
		c = nil
	}
}
