package sqlitequeue

import "sync"

// notifier wakes the receivers of one queue in this process.
type notifier struct {
	key  string
	refs int // guarded by hub.mu

	mu sync.Mutex
	ch chan struct{}
}

// wait returns a channel closed by the next notify. Take it before checking
// for messages so that no notification is missed.
func (n *notifier) wait() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.ch
}

func (n *notifier) notify() {
	n.mu.Lock()
	defer n.mu.Unlock()
	close(n.ch)
	n.ch = make(chan struct{})
}

// hub shares notifiers between all handles of a queue in this process.
type hub struct {
	mu sync.Mutex
	m  map[string]*notifier
}

var notifiers = &hub{m: map[string]*notifier{}}

func (h *hub) acquire(path, name string) *notifier {
	key := path + "\x00" + name
	h.mu.Lock()
	defer h.mu.Unlock()
	n := h.m[key]
	if n == nil {
		n = &notifier{key: key, ch: make(chan struct{})}
		h.m[key] = n
	}
	n.refs++
	return n
}

func (h *hub) release(n *notifier) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if n.refs--; n.refs == 0 {
		delete(h.m, n.key)
	}
}
