package k8stest

import (
	"context"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// A cluster starts with its node Ready, and Close leaves no process and no
// file behind.
func TestClusterStartsAndCloseLeavesNothing(t *testing.T) {
	bin := Require(t)
	began := time.Now()
	c, err := Start(context.Background(), bin)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("control plane up in %s", time.Since(began).Round(time.Millisecond))
	var pids []int
	for _, p := range c.procs {
		pids = append(pids, p.cmd.Process.Pid)
	}
	if len(pids) != len(binaries) {
		t.Errorf("%d processes running, want %d", len(pids), len(binaries))
	}
	c.Close()
	for _, pid := range pids {
		if err := syscall.Kill(pid, 0); err == nil {
			t.Errorf("process %d still runs after Close", pid)
		}
	}
	if _, err := os.Stat(c.dir); !os.IsNotExist(err) {
		t.Errorf("%s still there after Close: %v", c.dir, err)
	}
}

// kwok's pod-ready stage learns to leave pods of the test stages alone.
func TestSkipTestStages(t *testing.T) {
	in := []byte(`apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata: {name: pod-ready}
spec:
  selector:
    matchExpressions:
    - {key: '.status.phase', operator: In, values: [Pending]}
  next:
    statusTemplate: |
      phase: Running
`)
	out, err := skipTestStages(in)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Spec struct {
			Selector struct {
				MatchExpressions []struct {
					Key, Operator string
					Values        []string
				} `yaml:"matchExpressions"`
			}
			Next struct {
				StatusTemplate string `yaml:"statusTemplate"`
			}
		}
	}
	if err := yaml.Unmarshal(out, &doc); err != nil {
		t.Fatal(err)
	}
	exprs := doc.Spec.Selector.MatchExpressions
	if len(exprs) != 2 || exprs[1].Key != `.metadata.labels["waitingroom.test/stage"]` || exprs[1].Operator != "NotIn" ||
		strings.Join(exprs[1].Values, ",") != "not-ready,crash-loop" || doc.Spec.Next.StatusTemplate != "phase: Running\n" {
		t.Fatalf("rewritten stage:\n%s", out)
	}
	if _, err := skipTestStages([]byte("kind: Stage\nspec: {}\n")); err == nil {
		t.Fatal("a stage without a selector was accepted")
	}
}
