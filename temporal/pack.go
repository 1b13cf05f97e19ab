package temporal

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/shepherd-go/shepherd/rollout"
)

// DefaultMaxPayload is the largest workflow input (at start and at every
// continue-as-new) the workflow and [Client.Start] accept: well under the
// server's default blob limit of 2 MiB (limit.blobSize.error), so that a
// rollout never meets that limit in the middle of its life.
const DefaultMaxPayload = 1536 << 10

// ErrTooLarge is wrapped by the error of a rollout whose plan, or whose
// state, no longer fits in one workflow payload ([Settings.MaxPayload]),
// even compressed. It also wraps [rollout.ErrInvalid]: split the rollout.
var ErrTooLarge = fmt.Errorf("%w: temporal: the rollout does not fit in a workflow payload", rollout.ErrInvalid)

// packed is what travels compressed in [Input.Packed].
type packed struct {
	Input
	// Input's own Packed is always empty here.
}

// gzipMagic starts every gzip stream; JSON never starts with it, which is
// how unpack tells the compressed forms from the plain JSON of workflows
// started by earlier releases.
var gzipMagic = []byte{0x1f, 0x8b}

// pack compresses the JSON of v. Compression is deterministic for the
// same input and Go release, and its output is only ever sent to the
// server (never compared on replay).
func pack(v any) ([]byte, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	if err != nil {
		return nil, err
	}
	if err := json.NewEncoder(zw).Encode(v); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// unpack decodes data into v: gzip-compressed JSON, or plain JSON.
func unpack(data []byte, v any) error {
	if !bytes.HasPrefix(data, gzipMagic) {
		return json.Unmarshal(data, v)
	}
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return err
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		return err
	}
	return json.Unmarshal(raw, v)
}

// compress returns data gzip-compressed.
func compress(data []byte) ([]byte, error) {
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(data); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// DecodeState decodes the answer to [QueryState]: the state's saved form
// ([rollout.EncodeState]), gzip-compressed (or plain, from a worker of an
// earlier release).
func DecodeState(data []byte) (*rollout.State, error) {
	if bytes.HasPrefix(data, gzipMagic) {
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("%w: %v", rollout.ErrCorrupt, err)
		}
		if data, err = io.ReadAll(zr); err != nil {
			return nil, fmt.Errorf("%w: %v", rollout.ErrCorrupt, err)
		}
	}
	return rollout.DecodeState(data)
}

// PackInput returns in with its plan, policy and continued state moved
// into [Input.Packed], compressed: the form [Client.Start] sends and the
// workflow continues as new with. It fails with [ErrTooLarge] when even
// that is over max bytes (zero means [DefaultMaxPayload]).
func PackInput(in Input, max int) (Input, error) {
	if in.Packed != nil {
		return in, nil
	}
	data, err := pack(packed{Input: in})
	if err != nil {
		return Input{}, fmt.Errorf("temporal: pack the input: %w", err)
	}
	max = or(max, DefaultMaxPayload)
	if len(data) > max {
		return Input{}, fmt.Errorf("%w: rollout %q is %d bytes compressed, over the limit of %d (Settings.MaxPayload); split it into smaller rollouts", ErrTooLarge, in.ID, len(data), max)
	}
	return Input{ID: in.ID, Settings: in.Settings, Packed: data}, nil
}

// unpackInput returns in with Packed expanded.
func unpackInput(in Input) (Input, error) {
	if in.Packed == nil {
		return in, nil
	}
	var p packed
	if err := unpack(in.Packed, &p); err != nil {
		return Input{}, fmt.Errorf("temporal: unpack the input: %w", err)
	}
	if p.ID != in.ID {
		return Input{}, errors.New("temporal: the packed input is for rollout " + p.ID + ", not " + in.ID)
	}
	p.Packed = nil
	return p.Input, nil
}
