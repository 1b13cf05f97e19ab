package temporal

import (
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// Registry is where [Register] registers: a [worker.Worker], or the SDK's
// test environment ([testsuite.TestWorkflowEnvironment]).
//
// [testsuite.TestWorkflowEnvironment]: https://pkg.go.dev/go.temporal.io/sdk/testsuite#TestWorkflowEnvironment
type Registry interface {
	RegisterWorkflowWithOptions(w any, o workflow.RegisterOptions)
	RegisterActivityWithOptions(a any, o activity.RegisterOptions)
}

// Register registers the rollout workflow and acts' activities on r under
// the names the workflow calls them by.
func Register(r Registry, acts *Activities) {
	r.RegisterWorkflowWithOptions(Workflow, workflow.RegisterOptions{Name: WorkflowName})
	for name, fn := range map[string]any{
		ActivityReadVersion:  acts.ReadVersion,
		ActivityDeploy:       acts.Deploy,
		ActivityRollback:     acts.Rollback,
		ActivityCheckBlocker: acts.CheckBlockers,
		ActivityCheckAlarms:  acts.CheckAlarms,
		ActivityReadEvidence: acts.ReadEvidence,
		ActivityJudgeCanary:  acts.JudgeCanary,
		ActivityVerify:       acts.Verify,
		ActivityAuthorize:    acts.AuthorizeControl,
		ActivityNotify:       acts.Notify,
		ActivityRoute:        acts.Route,
	} {
		r.RegisterActivityWithOptions(fn, activity.RegisterOptions{Name: name})
	}
}

// NewWorker returns a worker polling taskQueue that runs rollout workflows
// and acts' activities; start it with Start or Run. Run as many as you
// like, on as many machines: a rollout whose worker is lost carries on on
// another (see the package documentation).
func NewWorker(c client.Client, taskQueue string, acts *Activities, o worker.Options) worker.Worker {
	w := worker.New(c, taskQueue, o)
	Register(w, acts)
	return w
}
