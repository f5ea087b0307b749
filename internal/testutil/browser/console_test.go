package browser

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestConsoleCatchesErrors: a console.error, an uncaught exception and a
// resource that fails to load are all reported.
func TestConsoleCatchesErrors(t *testing.T) {
	b := Start(t)
	tab := b.NewTab(t)
	c := WatchConsole(t, tab)
	page := `data:text/html,<img src="http://127.0.0.1:9/missing.png"><script>console.error("wrong: "+1);setTimeout(function(){throw new Error("boom")},0)</script>`
	if _, err := Run(tab, 30*time.Second, chromedp.Navigate(page)); err != nil {
		t.Fatal(err)
	}
	wants := []string{"console.error: wrong: 1", "boom", "missing.png"}
	deadline := time.Now().Add(10 * time.Second)
	for {
		all := strings.Join(c.Errors(), "\n")
		missing := ""
		for _, w := range wants {
			if !strings.Contains(all, w) {
				missing = w
			}
		}
		if missing == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the console's errors lack %q:\n%s", missing, all)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
