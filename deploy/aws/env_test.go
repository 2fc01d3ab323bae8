package aws

import (
	"slices"
	"testing"

	"github.com/imagepipe/imagepipe/internal/app"
)

// TestStackEnvIsRead checks that every environment variable and secret the
// stack gives a container is one the binary reads, and that each of the
// four targets runs as itself with the settings it cannot start without.
func TestStackEnvIsRead(t *testing.T) {
	type named struct {
		Name  string `json:"Name"`
		Value any    `json:"Value"`
	}
	type taskDef struct {
		ContainerDefinitions []struct {
			Environment []named `json:"Environment"`
			Secrets     []named `json:"Secrets"`
		} `json:"ContainerDefinitions"`
	}
	tasks := ofType[taskDef](t, loadTemplate(t), "AWS::ECS::TaskDefinition")
	targets := map[string]bool{}
	for id, td := range tasks {
		for _, c := range td.ContainerDefinitions {
			var names []string
			for _, e := range c.Environment {
				names = append(names, e.Name)
				if e.Name == "IMAGEPIPE_TARGET" {
					if s, ok := e.Value.(string); ok {
						targets[s] = true
					}
				}
			}
			for _, s := range c.Secrets {
				names = append(names, s.Name)
			}
			for _, n := range names {
				if !app.ReadsEnv(n) {
					t.Errorf("%s: environment variable %s is not one imagepipe reads", id, n)
				}
			}
			for _, need := range []string{"IMAGEPIPE_TARGET", "IMAGEPIPE_STATUS", "IMAGEPIPE_URL_SIGNING_KEYS", "IMAGEPIPE_OPS_ADDR"} {
				if !slices.Contains(names, need) {
					t.Errorf("%s: no %s", id, need)
				}
			}
		}
	}
	for _, want := range app.TargetNames() {
		if want != app.TargetAll && !targets[want] {
			t.Errorf("no task runs target %s (tasks run %v)", want, targets)
		}
	}
}
