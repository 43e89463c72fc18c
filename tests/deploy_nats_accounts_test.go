package tests

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.yaml.in/yaml/v3"

	"github.com/jetdispatch/dispatcher/dispatcher/client"
	"github.com/jetdispatch/dispatcher/schemas"
	"github.com/jetdispatch/dispatcher/tests/testenv"
)

// deployUsers are the users of deploy/nats/accounts.conf and the variables
// their passwords come from.
var deployUsers = map[string]string{
	"dispatcher": "DISPATCHER_NATS_PASSWORD",
	"publisher":  "PUBLISHER_NATS_PASSWORD",
	"operator":   "OPERATOR_NATS_PASSWORD",
}

// setDeployPasswords sets a random password for every deploy user and
// returns them by user.
func setDeployPasswords(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	for user, env := range deployUsers {
		b := make([]byte, 12)
		_, _ = rand.Read(b)
		out[user] = hex.EncodeToString(b)
		t.Setenv(env, out[user])
	}
	return out
}

// deployNATS starts deploy/nats/single.conf as loaded by nats-server, on a
// random port of 127.0.0.1, without monitoring, with a temporary store.
func deployNATS(t *testing.T) *server.Server {
	t.Helper()
	opts, err := server.ProcessConfigFile(filepath.Join(deployDir, "nats", "single.conf"))
	if err != nil {
		t.Fatal(err)
	}
	opts.Host, opts.Port, opts.HTTPPort = "127.0.0.1", -1, 0
	opts.StoreDir, opts.NoSigs, opts.NoLog = t.TempDir(), true, true
	srv, err := server.NewServer(opts)
	if err != nil {
		t.Fatalf("nats-server: %v", err)
	}
	go srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		srv.Shutdown()
		t.Fatal("nats-server not ready within 10s")
	}
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	return srv
}

// violations collects the permission violations the server reports to a
// connection.
type violations struct {
	mu   sync.Mutex
	errs []string
}

func (v *violations) handler(_ *nats.Conn, _ *nats.Subscription, err error) {
	if errors.Is(err, nats.ErrPermissionViolation) {
		v.mu.Lock()
		v.errs = append(v.errs, err.Error())
		v.mu.Unlock()
	}
}

// has reports whether a violation of kind ("publish" or "subscription")
// naming subject came.
func (v *violations) has(kind, subject string) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, e := range v.errs {
		e = strings.ToLower(e)
		if strings.Contains(e, "for "+kind) && strings.Contains(e, `"`+strings.ToLower(subject)+`"`) {
			return true
		}
	}
	return false
}

// TestDeployNATSAccounts measures deploy/nats/accounts.conf on a real
// server: the service works under its user; a publisher publishes jobs and
// gets JetStream's ack, and nothing else — not the scheduling stream's
// subjects, the dead letters, the KV buckets, nor the JetStream API calls
// that delete, purge or read; an operator runs the operator commands. What
// permissions cannot stop (headers on the jobs subjects) is shown too.
func TestDeployNATSAccounts(t *testing.T) {
	pw := setDeployPasswords(t)
	srv := deployNATS(t)
	url := srv.ClientURL()

	// Without credentials: refused.
	if nc, err := nats.Connect(url); err == nil {
		nc.Close()
		t.Error("a connection without credentials was accepted")
	}

	// The service under its user: calls, a retry through the scheduling
	// stream, a dead letter, a result, fleet heartbeats, the orphan sweep.
	sink := testenv.NewSink(t)
	sink.SetBehaviour(testenv.ByPath(map[string]testenv.Behaviour{
		"/flaky": testenv.FailFirst(1, 503), "/bad": testenv.Status(400), "/": testenv.OK()}))
	testenv.RunService(t, testenv.Config(url,
		testenv.M{"nats": testenv.M{"user": "dispatcher", "password": "${DISPATCHER_NATS_PASSWORD}"}},
		testenv.M{"orphan_grace": "1s", "security": testenv.M{"reply_to_allow": []string{"app.results.>"}}},
		testenv.Targets(testenv.M{"a": testenv.Target(sink.URL)})))

	operator, opJS := deployConnect(t, url, "operator", pw["operator"], &violations{})
	results := testenv.Results(t, operator, "app.results.a")
	// Why publishers get a private inbox prefix: whoever may subscribe to
	// _INBOX.> reads the jobs the service is delivered there.
	snoop, err := operator.SubscribeSync("_INBOX.>")
	if err != nil {
		t.Fatal(err)
	}
	if err := operator.Flush(); err != nil { // the server has the subscription before any job is published
		t.Fatal(err)
	}

	// The publisher: jobs and their acks, through dispatcher/client.
	pubViol := &violations{}
	pubNC, pubJS := deployConnect(t, url, "publisher", pw["publisher"], pubViol, nats.CustomInboxPrefix("_INBOX_publisher"))
	pub, err := client.New(pubNC)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := pub.Ready(ctx); err != nil {
		t.Fatalf("publisher: Ready: %v", err)
	}
	for _, j := range []schemas.Job{
		{ID: "acc-ok", Target: "a", Path: "/", ReplyTo: "app.results.a"},
		{ID: "acc-flaky", Target: "a", Path: "/flaky"},
		{ID: "acc-bad", Target: "a", Path: "/bad"},
		{ID: "acc-orphan", Target: "nowhere"},
	} {
		ack, err := pub.Publish(ctx, &j)
		if err != nil || ack.Stream != testenv.JobsStream || ack.Sequence == 0 {
			t.Fatalf("publisher: publish %s: ack %+v, %v", j.ID, ack, err)
		}
	}
	testenv.Eventually(t, 20*time.Second, func() (bool, string) {
		calls := sink.ByKey()
		return len(calls["acc-ok"]) == 1 && len(calls["acc-flaky"]) == 2 && len(calls["acc-bad"]) == 1,
			fmt.Sprintf("calls by job: %d ok, %d flaky, %d bad", len(calls["acc-ok"]), len(calls["acc-flaky"]), len(calls["acc-bad"]))
	})
	testenv.WaitDeadLetters(t, opJS, "a", 1, 15*time.Second)
	testenv.WaitDeadLetters(t, opJS, "nowhere", 1, 15*time.Second)
	testenv.Eventually(t, 10*time.Second, func() (bool, string) { return results.Len() == 1, "waiting for the result" })
	seen := false
	for m, err := snoop.NextMsg(0); err == nil && !seen; m, err = snoop.NextMsg(0) {
		seen = strings.Contains(string(m.Data), `"id":"acc-ok"`)
	}
	if !seen {
		t.Error("a subscriber of _INBOX.> did not see the service's deliveries: deploy/nats/accounts.conf says it would")
	}
	_ = snoop.Unsubscribe()

	// What the publisher may not do. Each try is refused by the server
	// (a permissions violation naming the subject), none has an effect.
	denied := []string{
		testenv.Topo.SchedSubject("a", "DISPATCH_JOBS-1"), testenv.Topo.DueSubject("a"),
		testenv.Topo.SettledSubject("DISPATCH_JOBS-1"), testenv.Topo.RetrySubject("a", "1"),
		testenv.DLQSubject("a"), testenv.FallbackSubject("a"), "app.results.a",
		"$KV.dispatch_instances.x", "$KV.dispatch_keys.state", "$KV.dispatch_breakers.a", "$KV.dispatch_pauses.a",
		testenv.Topo.AuditSubject(schemas.AuditPause), "$JS.API.STREAM.PURGE.DISPATCH_JOBS", "$JS.API.STREAM.PURGE.DISPATCH_SCHED",
		"$JS.API.STREAM.DELETE.DISPATCH_JOBS", "$JS.API.STREAM.UPDATE.DISPATCH_JOBS",
		"$JS.API.STREAM.CREATE.EVIL", "$JS.API.STREAM.INFO.DISPATCH_JOBS",
		"$JS.API.STREAM.MSG.DELETE.DISPATCH_JOBS", "$JS.API.STREAM.MSG.GET.DISPATCH_JOBS",
		"$JS.API.DIRECT.GET.DISPATCH_JOBS", "$JS.API.DIRECT.GET.DISPATCH_DLQ",
		"$JS.API.CONSUMER.CREATE.DISPATCH_JOBS", "$JS.API.CONSUMER.DELETE.DISPATCH_JOBS.dispatch_a",
		"$JS.API.CONSUMER.MSG.NEXT.DISPATCH_JOBS.dispatch_a", "$JS.API.CONSUMER.PAUSE.DISPATCH_JOBS.dispatch_a",
		"$JS.ACK.DISPATCH_JOBS.dispatch_a.1.1.1.0.0", "$JS.API.INFO",
	}
	for _, subj := range denied {
		m := nats.NewMsg(subj)
		m.Data = []byte(`{}`)
		m.Header.Set("Nats-Rollup", "all")
		if err := pubNC.PublishMsg(m); err != nil {
			t.Fatalf("publish %s: %v", subj, err)
		}
	}
	for _, subj := range []string{"_INBOX.>", "dispatch.>", "app.results.>", "$KV.>", ">"} {
		if _, err := pubNC.SubscribeSync(subj); err != nil {
			t.Fatalf("subscribe %s: %v", subj, err)
		}
	}
	_ = pubNC.Flush()
	testenv.Eventually(t, 10*time.Second, func() (bool, string) {
		var missing []string
		for _, subj := range denied {
			if !pubViol.has("publish", subj) {
				missing = append(missing, subj)
			}
		}
		for _, subj := range []string{"_INBOX.>", "dispatch.>", "app.results.>", "$KV.>", ">"} {
			if !pubViol.has("subscription", subj) {
				missing = append(missing, "subscribe "+subj)
			}
		}
		return len(missing) == 0, fmt.Sprintf("no permissions violation for %v", missing)
	})
	for _, st := range []string{testenv.JobsStream, testenv.Topo.SchedStream(), testenv.DLQStream} {
		if _, err := opJS.Stream(ctx, st); err != nil {
			t.Errorf("stream %s after the publisher's tries: %v", st, err)
		}
	}
	if n := len(testenv.DeadLetters(t, opJS, "")); n != 2 {
		t.Errorf("%d dead letters after the publisher's tries, want the 2 of before", n)
	}

	// The operator runs the operator commands under its user.
	env := []string{"DISPATCHER_USER=operator", "DISPATCHER_PASSWORD=" + pw["operator"]}
	if r := testenv.RunCLI(t, nil, env, "lag", "--nats-url", url); r.Code != 0 || !strings.Contains(r.Stdout, "TARGET") {
		t.Errorf("operator: lag\n%s", r)
	}
	if r := testenv.RunCLI(t, nil, env, "dlq", "ls", "--nats-url", url); r.Code != 0 || !strings.Contains(r.Stdout, "acc-bad") {
		t.Errorf("operator: dlq ls\n%s", r)
	}
	// The publisher cannot read the backlog.
	if r := testenv.RunCLI(t, nil, []string{"DISPATCHER_USER=publisher", "DISPATCHER_PASSWORD=" + pw["publisher"]}, "lag", "--nats-url", url); r.Code == 0 {
		t.Errorf("publisher: lag succeeded\n%s", r)
	}

	// What permissions cannot restrict: a message's headers. A publisher
	// allowed on the jobs subjects sends Nats-Rollup there; the jobs
	// stream, which allows neither schedules nor roll-ups, refuses it and
	// keeps every job (docs/contract.md section 10.3).
	parked := testenv.JobsSubject("parked")
	for i := range 3 {
		testenv.Publish(t, opJS, testenv.Msg{Subject: parked, Data: []byte(fmt.Sprintf(`{"id":"parked-%d"}`, i))})
	}
	m := hostileMsg(parked, "parked-rollup", "Nats-Rollup", "sub")
	if _, err := pubJS.PublishMsg(ctx, m); err == nil {
		t.Errorf("publisher: a Nats-Rollup on %s was accepted by the jobs stream", parked)
	}
	if n := len(testenv.JobsOn(t, opJS, parked)); n != 3 {
		t.Errorf("after a publisher's Nats-Rollup: sub, %s holds %d jobs, want the 3 published", parked, n)
	}
}

// deployConnect connects as user with JetStream, collecting permission
// violations in v.
func deployConnect(t *testing.T, url, user, password string, v *violations, opts ...nats.Option) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(url, append([]nats.Option{nats.UserInfo(user, password), nats.ErrorHandler(v.handler)}, opts...)...)
	if err != nil {
		t.Fatalf("connect as %s: %v", user, err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js
}

// TestDeployNATSAccountsEverywhere: every NATS config shipped in deploy/ —
// the single node, the three cluster nodes, the Kubernetes example — has
// the users and permissions of deploy/nats/accounts.conf, and compose
// mounts it.
func TestDeployNATSAccountsEverywhere(t *testing.T) {
	setDeployPasswords(t)
	accounts, err := os.ReadFile(filepath.Join(deployDir, "nats", "accounts.conf"))
	if err != nil {
		t.Fatal(err)
	}
	users := func(t *testing.T, path string) map[string]string {
		t.Helper()
		opts, err := server.ProcessConfigFile(path)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, u := range opts.Users {
			acc := ""
			if u.Account != nil {
				acc = u.Account.Name
			}
			out[u.Username] = fmt.Sprintf("account %s, permissions %s", acc, permString(u.Permissions))
		}
		return out
	}
	want := users(t, filepath.Join(deployDir, "nats", "single.conf"))
	if names := slices.Sorted(maps.Keys(want)); !reflect.DeepEqual(names, []string{"dispatcher", "operator", "publisher"}) {
		t.Fatalf("single.conf users %v, want dispatcher, operator, publisher", names)
	}
	t.Logf("single.conf: %v", want)
	for _, n := range []string{"cluster-node1.conf", "cluster-node2.conf", "cluster-node3.conf"} {
		if got := users(t, filepath.Join(deployDir, "nats", n)); !reflect.DeepEqual(got, want) {
			t.Errorf("%s users %v, want those of single.conf %v", n, got, want)
		}
	}

	type manifest struct {
		Kind string
		Data map[string]string
	}
	var docs []manifest
	data, err := os.ReadFile(filepath.Join(deployDir, "k8s", "nats-cluster", "nats.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var doc manifest
		if err := dec.Decode(&doc); err != nil {
			break
		}
		docs = append(docs, doc)
	}
	i := slices.IndexFunc(docs, func(d manifest) bool { return d.Kind == "ConfigMap" })
	if i < 0 {
		t.Fatal("k8s/nats-cluster/nats.yaml has no ConfigMap")
	}
	if docs[i].Data["accounts.conf"] != string(accounts) {
		t.Error("k8s/nats-cluster/nats.yaml: accounts.conf is not deploy/nats/accounts.conf")
	}
	dir := t.TempDir()
	for name, text := range docs[i].Data {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("POD_NAME", "nats-0")
	if got := users(t, filepath.Join(dir, "nats.conf")); !reflect.DeepEqual(got, want) {
		t.Errorf("k8s nats.conf users %v, want those of single.conf %v", got, want)
	}

	var compose struct {
		Services map[string]struct {
			Volumes     []string
			Environment map[string]string
		}
	}
	readYAML(t, "compose.yaml", &compose)
	nats := compose.Services["nats"]
	if !slices.Contains(nats.Volumes, "./nats/accounts.conf:/etc/nats/accounts.conf:ro") {
		t.Errorf("compose: nats does not mount accounts.conf next to single.conf: %v", nats.Volumes)
	}
	for _, env := range deployUsers {
		if nats.Environment[env] == "" {
			t.Errorf("compose: nats has no %s", env)
		}
	}
	if compose.Services["dispatcher"].Environment["DISPATCHER_NATS_PASSWORD"] == "" {
		t.Error("compose: dispatcher has no DISPATCHER_NATS_PASSWORD")
	}
}

// permString shows a user's permissions, nil for all.
func permString(p *server.Permissions) string {
	if p == nil {
		return "all"
	}
	sp := func(s *server.SubjectPermission) string {
		if s == nil {
			return "all"
		}
		return fmt.Sprintf("allow %v deny %v", s.Allow, s.Deny)
	}
	return fmt.Sprintf("publish (%s) subscribe (%s)", sp(p.Publish), sp(p.Subscribe))
}
