// Package policyfile reads one file that holds every policy a rollout
// needs: the plan policy ([wave.Policy]), the driver's policy
// ([rollout.Policy]), the blockers (a [blocker.Policy] calendar and the
// alarms that hold a stage back), the alarm rules ([alarm.Rule]) and the
// canary judge's policy ([canary.Policy]), in JSON or YAML:
//
//	plan:
//	  waves: {sizes: [1, 2, 4]}
//	  bake: {oneBox: 30m, zone: 1h, final: none}
//	rollout:
//	  approvals: ["w1/one-box/*"]
//	blockers:
//	  zone: Europe/Berlin
//	  windows: [{days: [Mon-Fri], start: "09:00", end: "17:00"}]
//	  freezes: [{from: "2026-12-21", through: "2027-01-03", reason: year-end freeze}]
//	alarms:
//	  - name: errors
//	    threshold: {query: error_rate, comparison: ">", threshold: 0.01, period: 1m, evaluationPeriods: 3}
//
// # Strict
//
// A file is read strictly, because a policy that silently means something
// else than it says is worse than none. [Parse] (and [Unmarshal], for other
// files) reports, all at once, each a [*field.Error] with the field's path
// in the file:
//
//   - a key that names no field, with the closest name
//     (blockers.freezess: unknown field; did you mean "freezes"?): names
//     are matched exactly, where encoding/json would take "Freezes" too,
//     and encoding/json's DisallowUnknownFields stops at the first unknown
//     key and does not say where it is;
//   - a value of the wrong type (a string where a number goes), a key given
//     twice in one object;
//   - a duration without a unit (30 is not 30 nanoseconds; write "30s"), and
//     a negative one where "none" is meant: fields that can be empty say
//     "none" ([duration.None]);
//   - every problem the parts' own Validate methods find (a batch fraction
//     above 1, a freeze without a reason), with their paths rewritten from
//     Go's names to the file's ("policy.Batch.MaxFraction" becomes
//     "plan.batch.maxFraction"), each keeping its package's sentinel, so
//     that errors.Is(err, wave.ErrInvalid) still works on the whole;
//   - what ties the parts together: blockers.alarms names alarms of the
//     file, and an enabled canary has a policy.
//
// # YAML
//
// YAML is read with sigs.k8s.io/yaml, which converts YAML to JSON and then
// decodes the JSON: a YAML file has exactly the JSON file's field names,
// and every rule above (durations with units, "none", exact names) applies
// unchanged, because it is enforced once, on the JSON. It is the
// established choice for Go configuration that already has a JSON form
// (Kubernetes and its tools read their objects this way), refuses duplicate
// keys in its strict mode, and brings only go.yaml.in/yaml/v2, which the
// module already had through Prometheus's client. Reading YAML with a YAML
// decoder directly (gopkg.in/yaml.v3, goccy/go-yaml) would need a second set
// of field tags and a second implementation of every rule. A document
// whose first non-blank character is "{" is read as JSON, so that a JSON
// file's syntax errors are JSON's, with a line and column.
//
// [Marshal] writes a policy back as JSON or YAML; what it writes reads back
// to an equal policy. [Policy.Wire] turns the file's blockers and alarms
// into a rollout's gates.
package policyfile
