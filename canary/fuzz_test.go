package canary

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"
)

// floats decodes b as little-endian float64s, two bytes of each value
// spread over a small range so that ties and special values both occur.
func floats(b []byte) []float64 {
	var out []float64
	for len(b) >= 2 {
		v := binary.LittleEndian.Uint16(b)
		b = b[2:]
		switch v >> 12 {
		case 0xf:
			out = append(out, []float64{math.NaN(), math.Inf(1), math.Inf(-1), 0, math.Copysign(0, -1), 1e300, -1e300, 5e-324}[v&7])
		default:
			out = append(out, float64(int16(v))/float64(1+v>>13))
		}
	}
	return out
}

func FuzzRankTest(f *testing.F) {
	f.Add([]byte{1, 0, 2, 0, 3, 0}, []byte{4, 0, 5, 0}, 0.95, uint8(0))
	f.Add([]byte{1, 0, 1, 0, 1, 0}, []byte{1, 0}, 0.98, uint8(1))
	f.Add([]byte{0, 0xf0}, []byte{1, 0}, 0.9, uint8(2))
	f.Add([]byte{}, []byte{1, 0}, 0.0, uint8(0))
	f.Fuzz(func(t *testing.T, a, b []byte, conf float64, alt uint8) {
		x, y := floats(a), floats(b)
		r, err := RankTest(x, y, RankOptions{ConfLevel: conf, Alternative: Alternative(alt % 4)})
		if err != nil {
			return
		}
		if !(r.PValue >= 0 && r.PValue <= 1) {
			t.Fatalf("p-value %v", r.PValue)
		}
		if !(r.W >= 0 && r.W <= float64(len(x)*len(y))) {
			t.Fatalf("W %v outside [0, %d]", r.W, len(x)*len(y))
		}
		// Below 50% confidence both ends sit on the same jump of the
		// corrected statistic and may come out in either order, in R too.
		if r.ConfLevel >= 0.5 && !(r.Lower <= r.Upper) {
			t.Fatalf("interval [%v, %v] at confidence %v", r.Lower, r.Upper, r.ConfLevel)
		}
	})
}

func FuzzKayentaJudge(f *testing.F) {
	f.Add([]byte{1, 0, 2, 0, 3, 0}, []byte{4, 0, 5, 0}, uint8(0))
	f.Add([]byte{0, 0xf0, 1, 0}, []byte{1, 0xf0}, uint8(3))
	f.Add([]byte{}, []byte{}, uint8(7))
	f.Fuzz(func(t *testing.T, a, b []byte, flags uint8) {
		p := KayentaPolicy{
			GroupWeights: map[string]float64{"g": 60},
			Metrics: []KayentaMetric{
				{Name: "m", Groups: []string{"g"}, NaN: NaNStrategy(flags & 1), RemoveOutliers: flags&2 != 0,
					MustHaveData: flags&4 != 0, Critical: flags&8 != 0, Direction: Direction(flags >> 4 & 3)},
				{Name: "n", EffectSize: EffectSize{Measure: EffectMeasure(flags >> 6 & 1), AllowedIncrease: 0.7}},
			},
		}
		x, y := floats(a), floats(b)
		res, err := p.Judge(map[string]Pair{"m": {Canary: x, Baseline: y}, "n": {Canary: y, Baseline: x}})
		if err != nil {
			return
		}
		if !(res.Score >= 0 && res.Score <= 100) || res.Reason == "" || len(res.Metrics) != 2 {
			t.Fatalf("result %+v", res)
		}
	})
}

func FuzzJudgeObserve(f *testing.F) {
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0xf0, 0xf0})
	f.Add(make([]byte, 64))
	f.Fuzz(func(t *testing.T, data []byte) {
		p := Policy{TrafficShare: 0.2, MinDuration: 1, MaxDuration: 3600e9, Metrics: []Metric{
			{Name: "c", Kind: Count}, {Name: "m", Kind: Mean}, {Name: "a", Kind: Mean, Absolute: true, Margin: 3, Direction: Decrease},
			{Name: "q", Kind: Quantile, Quantile: 0.9, Buckets: []float64{1, 2, 4, 8}}}}
		j, err := NewJudge(p, t0)
		if err != nil {
			t.Fatal(err)
		}
		v := floats(data)
		now := t0
		for len(v) >= 4 {
			now = now.Add(time.Minute)
			cnt := func(x float64) int64 {
				if math.IsNaN(x) || math.IsInf(x, 0) {
					return 0
				}
				return int64(x)
			}
			obs := []Observation{
				{Metric: "c", CanaryEvents: cnt(v[0]), BaselineEvents: cnt(v[1])},
				{Metric: "m", CanaryValue: v[2], BaselineValue: v[3]},
				{Metric: "a", CanaryValue: v[1], BaselineValue: v[0]},
				{Metric: "q", CanarySamples: v[:2], BaselineSamples: v[2:4], BaselineBuckets: []int64{cnt(v[0]), 1, 0, 2, 0}},
			}
			_ = j.Observe(now, obs...)
			_ = j.Decide(now)
			v = v[4:]
		}
		verdict := j.Verdict(now)
		if verdict.Reason == "" || len(verdict.Metrics) != 4 {
			t.Fatalf("verdict %+v", verdict)
		}
		for _, m := range verdict.Metrics {
			if !strings.HasPrefix(m.Sentence, m.Name) {
				t.Fatalf("sentence %q", m.Sentence)
			}
		}
		b, err := json.Marshal(j.State())
		if err != nil {
			t.Fatalf("state does not encode: %v", err)
		}
		var s State
		if err := json.Unmarshal(b, &s); err != nil {
			t.Fatal(err)
		}
		if _, err := ResumeJudge(p, s); err != nil {
			t.Fatalf("state does not resume: %v", err)
		}
	})
}

func FuzzPolicyJSON(f *testing.F) {
	f.Add(`{"trafficShare":0.1,"metrics":[{"name":"e","kind":"count"},{"name":"l","kind":"mean","margin":0.2}]}`)
	f.Add(`{"alpha":0.5,"maxDuration":"1m","metrics":[{"name":"q","kind":"quantile","quantile":0.5,"buckets":[1,2]}]}`)
	f.Add(`{"metrics":[{"name":"m","kind":"mean","absolute":true,"margin":1e308,"tolerance":1e307}]}`)
	f.Add(`{"metrics":[]}`)
	f.Fuzz(func(t *testing.T, in string) {
		var p Policy
		if err := json.Unmarshal([]byte(in), &p); err != nil {
			return
		}
		if p.Validate() != nil {
			if _, err := NewJudge(p, t0); err == nil {
				t.Fatal("judge made from an invalid policy")
			}
			return
		}
		j, err := NewJudge(p, t0)
		if err != nil {
			t.Fatalf("valid policy rejected: %v", err)
		}
		for i, m := range p.Metrics {
			o := Observation{Metric: m.Name}
			switch m.Kind {
			case Count:
				o.CanaryEvents, o.BaselineEvents = int64(i), 3
			case Mean:
				o.CanaryValue, o.BaselineValue = 2, 1
			case Quantile:
				o.CanarySamples, o.BaselineSamples = []float64{1, 2, 3}, []float64{1}
			}
			if err := j.Observe(t0.Add(time.Hour), o); err != nil {
				t.Fatalf("observe: %v", err)
			}
		}
		_ = j.Verdict(t0.Add(time.Hour))
	})
}

func FuzzKayentaPolicyJSON(f *testing.F) {
	f.Add(`{"metrics":[{"name":"a","groups":["x"]},{"name":"b","critical":true}],"groupWeights":{"x":40}}`)
	f.Add(`{"confidence":0.9,"lifetime":"1h","interval":"15m","metrics":[{"name":"a","effectSize":{"measure":"cles","allowedIncrease":0.6}}]}`)
	f.Fuzz(func(t *testing.T, in string) {
		var p KayentaPolicy
		if err := json.Unmarshal([]byte(in), &p); err != nil {
			return
		}
		data := map[string]Pair{}
		for i, m := range p.Metrics {
			data[m.Name] = Pair{Canary: []float64{1, 2, float64(i)}, Baseline: []float64{2, 3}}
		}
		res, err := p.Judge(data)
		if (err == nil) != (p.Validate() == nil) {
			t.Fatalf("judge error %v, validate %v", err, p.Validate())
		}
		if err == nil && !(res.Score >= 0 && res.Score <= 100) {
			t.Fatalf("score %v", res.Score)
		}
		_ = p.Windows()
	})
}
