package sqlitequeue_test

import (
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imagepipe/imagepipe/internal/stores/queue/sqlitequeue"
)

func TestParseURL(t *testing.T) {
	def := sqlitequeue.DefaultOptions()
	with := func(f func(*sqlitequeue.Options)) sqlitequeue.Options {
		o := def
		f(&o)
		return o
	}
	tests := []struct {
		url      string
		wantPath string
		want     sqlitequeue.Options
		wantErr  string
	}{
		{url: "sqlite:///var/lib/q.db", wantPath: "/var/lib/q.db", want: def},
		{url: "sqlite://localhost/var/lib/q.db", wantPath: "/var/lib/q.db", want: def},
		{url: "sqlite://./data/q.db", wantPath: "./data/q.db", want: def},
		{url: "sqlite:data/q.db", wantPath: "data/q.db", want: def},
		{url: "sqlite:///a%20b/q%3F.db", wantPath: "/a b/q?.db", want: def},
		{
			url:      "sqlite:///q.db?name=jobs&visibility=60s&max_receive=3&dlq=jobs-dlq",
			wantPath: "/q.db", want: with(func(o *sqlitequeue.Options) { o.Visibility = time.Minute }),
		},
		{
			url:      "sqlite:///q.db?name=thumbs&visibility=90&max_receive=5&poll=50ms",
			wantPath: "/q.db",
			want: with(func(o *sqlitequeue.Options) {
				o.Name, o.DLQ, o.Visibility, o.MaxReceive, o.PollInterval = "thumbs", "thumbs-dlq", 90*time.Second, 5, 50*time.Millisecond
			}),
		},
		{
			url: "sqlite:///q.db?name=jobs-dlq&max_receive=0", wantPath: "/q.db",
			want: with(func(o *sqlitequeue.Options) { o.Name, o.MaxReceive, o.DLQ = "jobs-dlq", 0, "" }),
		},
		{url: "sqlite:///q.db?visibility=soon", wantErr: "visibility"},
		{url: "sqlite:///q.db?visibility=-5s", wantErr: "visibility"},
		{url: "sqlite:///q.db?visibility=0", wantErr: "visibility"},
		{url: "sqlite:///q.db?visibility=13h", wantErr: "visibility"},
		{url: "sqlite:///q.db?visibility=99999999999999", wantErr: "visibility"},
		{url: "sqlite:///q.db?max_receive=three", wantErr: "max_receive"},
		{url: "sqlite:///q.db?max_receive=-1", wantErr: "max_receive"},
		{url: "sqlite:///q.db?name=has%20space", wantErr: "name"},
		{url: "sqlite:///q.db?name=", wantErr: "name"},
		{url: "sqlite:///q.db?dlq=jobs", wantErr: "differ"},
		{url: "sqlite:///q.db?dlq=", wantErr: "dlq"},
		{url: "sqlite:///q.db?poll=0s", wantErr: "poll"},
		{url: "sqlite:///q.db?name=a&name=b", wantErr: "2 times"},
		{url: "sqlite:///q.db?visiblity=60s", wantErr: `unknown URL parameter "visiblity"`},
		{url: "sqlite:///q.db#frag", wantErr: "fragment"},
		{url: "sqlite://host/q.db", wantErr: "host"},
		{url: "sqlite://", wantErr: "database file"},
		{url: "sqlite:///dir/", wantErr: "database file"},
		{url: "postgres:///q.db", wantErr: "scheme"},
	}
	for _, tc := range tests {
		t.Run(tc.url, func(t *testing.T) {
			u, err := url.Parse(tc.url)
			if err != nil {
				t.Fatal(err)
			}
			path, opts, err := sqlitequeue.ParseURL(u)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("ParseURL = %q, %+v, %v; want an error mentioning %q", path, opts, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseURL: %v", err)
			}
			if path != filepath.FromSlash(tc.wantPath) || opts != tc.want {
				t.Errorf("ParseURL = %q, %+v; want %q, %+v", path, opts, tc.wantPath, tc.want)
			}
		})
	}
}
