package browser_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/imagepipe/imagepipe/internal/app"
	"github.com/imagepipe/imagepipe/internal/testkit/apptest"
	"github.com/imagepipe/imagepipe/internal/testkit/imagetest"
)

// screenshotEnv names the file (absolute, or relative to the repository's
// root) the page test saves a screenshot of the upload view into; unset,
// none is made, so test runs leave the tree alone. README shows
// docs/web.png, made with IMAGEPIPE_WEB_SCREENSHOT=docs/web.png.
const screenshotEnv = "IMAGEPIPE_WEB_SCREENSHOT"

// serverConfig is the all-in-one config on dir, listening on addr, its
// variant URLs its own (the page shows them, and may show nothing from
// elsewhere); two attempts a job, so a job given up on reaches the
// dead-letter queue in seconds.
func serverConfig(dir, addr, publicURL string) app.Config {
	cfg := apptest.Config(dir)
	cfg.HTTPAddr = addr
	cfg.PublicURL = publicURL
	cfg.Processor.MaxAttempts = 2
	return cfg
}

// signIn opens the page with the key in its fragment, as the README's
// link does, and waits for the upload view.
func signIn(b *Browser, base, key string) {
	b.t.Helper()
	b.run(chromedp.Navigate(base + "/#key=" + key))
	b.waitFor("the upload view", `!!document.getElementById("drop") && !document.getElementById("nav").hidden`, 20*time.Second)
}

// drop drops files on the drop zone the way a person's drag does: a drop
// event carrying them in its DataTransfer (the files are read from disk
// through a file input the test adds).
func drop(b *Browser, paths ...string) {
	b.t.Helper()
	eval[bool](b, `(() => { if (!document.getElementById("test-files")) {
		const i = document.createElement("input"); i.type = "file"; i.multiple = true; i.id = "test-files"; i.hidden = true;
		document.body.append(i); } return true })()`)
	b.run(chromedp.SetUploadFiles(chromedp.ID("test-files"), paths))
	n := eval[int](b, `(() => { const i = document.getElementById("test-files"); const dt = new DataTransfer();
		for (const f of i.files) dt.items.add(f);
		document.getElementById("drop").dispatchEvent(new DragEvent("drop", {bubbles: true, cancelable: true, dataTransfer: dt}));
		return i.files.length })()`)
	if n != len(paths) {
		b.t.Fatalf("dropped %d files, want %d", n, len(paths))
	}
}

// newestBatch is a JavaScript expression: the tiles of the newest batch.
const newestBatch = `[...(document.querySelector("#batches section.batch") || document.createElement("p")).querySelectorAll("li.tile")]`

// tile is what the test reads of an upload's tile.
type tile struct {
	File     string `json:"file"`
	State    string `json:"state"`
	Progress string `json:"progress"`
	ImageID  string `json:"imageId"`
	Reason   string `json:"reason"`
	Src      string `json:"src"`
	Natural  int    `json:"natural"`
}

func tiles(b *Browser) []tile {
	b.t.Helper()
	raw := eval[string](b, `JSON.stringify(`+newestBatch+`.map(t => { const img = t.querySelector("img.thumb");
		return {file: t.dataset.file, state: t.dataset.state, progress: t.dataset.progress, imageId: t.dataset.imageId || "",
			reason: t.querySelector(".reason").textContent, src: img ? img.currentSrc : "", natural: img ? img.naturalWidth : 0} }))`)
	var out []tile
	if err := json.Unmarshal([]byte(raw), &out); err != nil {
		b.t.Fatal(err)
	}
	return out
}

// writeFile writes data into the test's temporary directory as name.
func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// call sends a JSON request with key and decodes the answer into out.
func call(t *testing.T, method, url, key, ctype string, body io.Reader, out any) int {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v\n%s", method, url, err, b)
		}
	}
	if resp.StatusCode >= 300 {
		t.Logf("%s %s: %d %s", method, url, resp.StatusCode, b)
	}
	return resp.StatusCode
}

type image struct {
	ID    string `json:"id"`
	State string `json:"state"`
}

// TestPage runs the page against one server, a step at a time, in one
// browser signed in as the operator.
func TestPage(t *testing.T) {
	chromium(t)
	var failing atomic.Bool
	fault := func(context.Context, string) error {
		if failing.Load() {
			return errors.New("simulated: variants store down")
		}
		return nil
	}
	addr := freeAddr(t)
	s := apptest.Start(t, serverConfig(t.TempDir(), addr, "http://"+addr), apptest.FailVariants(fault))
	b := newBrowser(t, 1200, 900)
	signIn(b, s.Base, s.Token)

	t.Run("loads signed in, labelled, at phone width", func(t *testing.T) { loads(t, b, s) })
	var ready []tile
	t.Run("three photos dropped", func(t *testing.T) { ready = threePhotos(t, b, s) })
	t.Run("corrupt file ends FAILED with its reason", func(t *testing.T) { corrupt(t, b) })
	t.Run("other tenants' images never appear", func(t *testing.T) { tenants(t, b, s, ready) })
	t.Run("delete removes the tile and the variants", func(t *testing.T) { deleteImage(t, b, s, ready) })
	t.Run("admin lists a dead letter and redrives it", func(t *testing.T) { deadLetter(t, b, s, &failing) })

	if p := b.Problems(); len(p) > 0 {
		t.Errorf("browser console: %d problems:\n%s", len(p), strings.Join(p, "\n"))
	}
	b.checkRequestsStayOn(s.Base)
}

func loads(t *testing.T, b *Browser, s *apptest.Server) {
	if got := eval[string](b, `location.hash`); strings.Contains(got, "key") || got != "#/upload" {
		t.Errorf("address bar fragment %q, want #/upload with the key gone", got)
	}
	if got := eval[string](b, `sessionStorage.getItem("imagepipe.key")`); got != s.Token {
		t.Errorf("session storage holds %q, want the key", got)
	}
	b.waitFor("the presets", `document.querySelectorAll("#preset option").length >= 3`, 10*time.Second)
	b.waitFor("the admin link", `!document.getElementById("nav-admin").hidden`, 10*time.Second)
	unlabelled := `[...document.querySelectorAll("input:not([type=hidden]):not(#test-files), select, textarea, button")]
		.filter(e => !(e.labels && e.labels.length) && !e.getAttribute("aria-label") && !(e.tagName === "BUTTON" && e.textContent.trim()))
		.map(e => e.outerHTML.slice(0, 80))`
	if got := eval[[]string](b, unlabelled); len(got) > 0 {
		t.Errorf("controls without a label: %v", got)
	}
	// Keyboard: the file chooser is reachable with Tab.
	if got := eval[bool](b, `(() => { const c = document.getElementById("choose"); c.focus(); return document.activeElement === c && c.tabIndex >= 0 })()`); !got {
		t.Error("the Choose files button cannot take the keyboard focus")
	}
	b.run(chromedp.EmulateViewport(360, 740))
	if w := eval[int](b, `document.documentElement.scrollWidth - window.innerWidth`); w > 0 {
		t.Errorf("at 360 px the page is %d px wider than the screen", w)
	}
	b.run(chromedp.EmulateViewport(1200, 900))
	if p := b.Problems(); len(p) > 0 {
		t.Errorf("console problems on load: %v", p)
	}
	b.checkRequestsStayOn(s.Base)
}

func threePhotos(t *testing.T, b *Browser, s *apptest.Server) []tile {
	names := []string{"dandelion.jpg", "coffee.png", "chelsea-alpha.png"}
	var paths []string
	for _, n := range names {
		paths = append(paths, imagetest.FixturePath(t, n))
	}
	drop(b, paths...)
	b.waitFor("three rendered thumbnails", `(() => { const ts = `+newestBatch+`; return ts.length === 3 && ts.every(t => {
		const img = t.querySelector("img.thumb"); return t.dataset.state === "ready" && img && img.complete && img.naturalWidth > 0 }) })()`, 90*time.Second)
	got := tiles(b)
	for _, tl := range got {
		if tl.Progress != "100" {
			t.Errorf("%s: progress %s %%, want 100", tl.File, tl.Progress)
		}
		if !strings.HasPrefix(tl.Src, s.Base+"/a/"+tl.ImageID+"/") || tl.Natural <= 0 {
			t.Errorf("%s: thumbnail %q (natural width %d), want one of /a/%s/ rendered", tl.File, tl.Src, tl.Natural, tl.ImageID)
		}
	}
	if sum := eval[string](b, `document.querySelector("#batches section.batch .summary").textContent`); !strings.Contains(sum, "3 ready") {
		t.Errorf("batch summary %q, want 3 ready", sum)
	}
	if path := os.Getenv(screenshotEnv); path != "" {
		screenshot(t, b, path)
	}
	return got
}

// screenshot saves the viewport as PNG to path (relative paths from the
// repository's root).
func screenshot(t *testing.T, b *Browser, path string) {
	if !filepath.IsAbs(path) {
		path = filepath.Join("..", "..", path)
	}
	b.waitFor("the thumbnails shown", newestBatch+`.every(t => t.querySelector(".preview.loaded"))`, 10*time.Second)
	time.Sleep(500 * time.Millisecond) // their fade-in (app.css) is over
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
}

func corrupt(t *testing.T, b *Browser) {
	jpeg := imagetest.Fixture(t, "dandelion.jpg")
	drop(b, writeFile(t, "broken.jpg", jpeg[:len(jpeg)/3]))
	b.waitFor("the corrupt file to fail", newestBatch+`.length === 1 && `+newestBatch+`[0].dataset.state === "failed"`, 60*time.Second)
	got := tiles(b)[0]
	if !strings.Contains(got.Reason, "corrupt") {
		t.Errorf("failed tile's reason %q, want the image's error (corrupt)", got.Reason)
	}
	if sum := eval[string](b, `document.querySelector("#batches section.batch .summary").textContent`); !strings.Contains(sum, "1 failed") {
		t.Errorf("batch summary %q, want 1 failed", sum)
	}

	// Not an image at all: refused when the upload completes (415), and
	// the tile says why.
	b.allow("status of 415")
	drop(b, writeFile(t, "notes.txt", []byte(strings.Repeat("not an image\n", 100))))
	b.waitFor("the text file to be refused", newestBatch+`.length === 1 && `+newestBatch+`[0].dataset.state === "failed"`, 30*time.Second)
	if got := tiles(b)[0]; !strings.Contains(strings.ToLower(got.Reason), "format") {
		t.Errorf("refused file's reason %q, want the server's message about its format", got.Reason)
	}
	// The refused upload's record (its file name) is kept for this tab
	// only, not in localStorage, which outlives sign-out.
	if n := eval[int](b, `Object.keys(localStorage).filter((k) => k.startsWith("tus::")).length`); n != 0 {
		t.Errorf("%d tus records in localStorage, want none", n)
	}
}

// galleryIDs opens the gallery and returns the ids it lists once loaded.
func galleryIDs(b *Browser) []string {
	b.t.Helper()
	eval[bool](b, `location.hash = "#/gallery"; true`)
	b.waitFor("the gallery", `!!document.getElementById("gallery") && (document.querySelectorAll("#gallery li").length > 0 || !document.getElementById("gallery-empty").hidden)`, 20*time.Second)
	return eval[[]string](b, `[...document.querySelectorAll("#gallery li")].map(li => li.dataset.imageId)`)
}

func tenants(t *testing.T, b *Browser, s *apptest.Server, mine []tile) {
	if len(mine) == 0 {
		t.Skip("no READY image of the operator's from the upload step")
	}
	keys := map[string]string{}
	for _, tenant := range []string{"acme", "other"} {
		var out struct{ Secret string }
		body := fmt.Sprintf(`{"tenant":%q,"scopes":["upload","read"],"name":"browser test"}`, tenant)
		if code := call(t, http.MethodPost, s.Base+"/v1/admin/keys", s.Token, "application/json", strings.NewReader(body), &out); code != 200 || out.Secret == "" {
			t.Fatalf("create a key of %s: %d", tenant, code)
		}
		keys[tenant] = out.Secret
	}
	var other image
	if code := call(t, http.MethodPost, s.Base+"/v1/images?wait=30s", keys["other"], "image/jpeg", bytes.NewReader(imagetest.Fixture(t, "grey.jpg")), &other); code != 200 {
		t.Fatalf("upload as other: %d", code)
	}

	// acme, in a browser of its own, uploads through the page.
	acme := newBrowser(t, 1000, 800)
	signIn(acme, s.Base, keys["acme"])
	drop(acme, imagetest.FixturePath(t, "orient-1.jpg"))
	acme.waitFor("acme's upload", newestBatch+`.length === 1 && `+newestBatch+`[0].dataset.state === "ready"`, 60*time.Second)
	acmeID := tiles(acme)[0].ImageID

	seen := map[string][]string{"operator": galleryIDs(b), "acme": galleryIDs(acme)}
	signIn(acme, s.Base, keys["other"]) // the same tab, signed in again through the link
	seen["other"] = galleryIDs(acme)
	operatorIDs := map[string]bool{}
	for _, tl := range mine {
		operatorIDs[tl.ImageID] = true
	}
	for who, ids := range seen {
		owner := map[string]string{other.ID: "other", acmeID: "acme"}
		for id := range operatorIDs {
			owner[id] = "operator"
		}
		for _, id := range ids {
			if o, ok := owner[id]; ok && o != who {
				t.Errorf("%s's gallery lists %s's image %s", who, o, id)
			}
		}
		want := map[string]string{"other": other.ID, "acme": acmeID, "operator": mine[0].ImageID}[who]
		if !contains(ids, want) {
			t.Errorf("%s's gallery %v lacks its own image %s", who, ids, want)
		}
	}
	acme.checkRequestsStayOn(s.Base)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func deleteImage(t *testing.T, b *Browser, s *apptest.Server, ready []tile) {
	if len(ready) == 0 {
		t.Skip("no READY image from the upload step")
	}
	victim := ready[0]
	if code := getStatus(t, victim.Src); code != http.StatusOK {
		t.Fatalf("variant %s before delete: %d", victim.Src, code)
	}
	if !contains(galleryIDs(b), victim.ImageID) {
		t.Fatalf("gallery lacks %s", victim.ImageID)
	}
	b.run(chromedp.Click(chromedp.CSS(`#gallery li[data-image-id="` + victim.ImageID + `"] a`)))
	b.waitFor("the image page", `!!document.getElementById("delete") && !!document.getElementById("variants")`, 20*time.Second)
	if got := eval[string](b, `document.getElementById("snippet").value`); !strings.Contains(got, "srcset=") || !strings.Contains(got, "/a/"+victim.ImageID+"/") {
		t.Errorf("srcset snippet %q", got)
	}
	b.run(chromedp.Click(chromedp.ID("delete")))
	b.waitFor("the confirmation", `document.getElementById("confirm").open`, 10*time.Second)
	b.run(chromedp.Click(chromedp.ID("confirm-ok")))
	b.waitFor("the gallery without the image", `location.hash === "#/gallery" && !!document.getElementById("gallery") &&
		document.querySelectorAll("#gallery li").length > 0 && !document.querySelector('#gallery li[data-image-id="`+victim.ImageID+`"]')`, 20*time.Second)
	deadline := time.Now().Add(15 * time.Second)
	for code := getStatus(t, victim.Src); code != http.StatusNotFound; code = getStatus(t, victim.Src) {
		if time.Now().After(deadline) {
			t.Fatalf("variant %s after delete: %d, want 404", victim.Src, code)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func deadLetter(t *testing.T, b *Browser, s *apptest.Server, failing *atomic.Bool) {
	failing.Store(true)
	var img image
	if code := call(t, http.MethodPost, s.Base+"/v1/images?wait=0", s.Token, "image/jpeg", bytes.NewReader(imagetest.Fixture(t, "orient-2.jpg")), &img); code != http.StatusAccepted {
		failing.Store(false)
		t.Fatalf("upload: %d", code)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		var list struct {
			DeadLetters []struct {
				ImageID string `json:"image_id"`
			} `json:"dead_letters"`
		}
		call(t, http.MethodGet, s.Base+"/v1/admin/dead-letters", s.Token, "", nil, &list)
		if len(list.DeadLetters) > 0 && list.DeadLetters[0].ImageID == img.ID {
			break
		}
		if time.Now().After(deadline) {
			failing.Store(false)
			t.Fatalf("no dead letter for %s after 60 s: %+v", img.ID, list)
		}
		time.Sleep(200 * time.Millisecond)
	}
	failing.Store(false)

	eval[bool](b, `location.hash = "#/admin"; true`)
	row := `#dlq-table tr[data-image-id="` + img.ID + `"]`
	b.waitFor("the dead letter", `!!document.querySelector('`+row+`')`, 20*time.Second)
	b.waitFor("the queue depth", `!!document.querySelector('#queue-depth tr[data-queue="jobs"]')`, 10*time.Second)
	b.waitFor("the failed image", `!!document.querySelector('#failed-list li[data-image-id="`+img.ID+`"]')`, 10*time.Second)
	b.run(chromedp.Click(chromedp.CSS(row+` input[type=checkbox]`)), chromedp.Click(chromedp.ID("dlq-redrive")))
	b.waitFor("the redrive", `document.getElementById("notice").textContent.startsWith("Redrove 1 ")`, 20*time.Second)
	deadline = time.Now().Add(60 * time.Second)
	for {
		var got image
		call(t, http.MethodGet, s.Base+"/v1/images/"+img.ID, s.Token, "", nil, &got)
		if got.State == "IMAGE_STATE_READY" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("redriven image %s: %s after 60 s, want READY", img.ID, got.State)
		}
		time.Sleep(200 * time.Millisecond)
	}
	b.waitFor("the dead letter gone", `!!document.getElementById("dlq-count") && !document.querySelector('`+row+`')`, 20*time.Second)
}
