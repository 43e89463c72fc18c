package config

import (
	"time"

	"github.com/jetdispatch/dispatcher/worker"
	"go.yaml.in/yaml/v3"
)

// decoded is what decoding a file yields before validation.
type decoded struct {
	cfg Config
	// defaults is the built-in defaults with the file's defaults section
	// merged in.
	defaults worker.Target
	// targets are the paths of the decoded targets by name, in file order.
	targets []decodedTarget
	// anyTarget reports whether the targets section had any entry at all,
	// decodable or not.
	anyTarget bool
}

type decodedTarget struct {
	name, path string
}

// config decodes the root mapping of a file. The defaults section is merged
// before any target, wherever it appears in the file.
func (d *decoder) config(root *yaml.Node) *decoded {
	out := &decoded{cfg: defaultConfig(), defaults: builtinTarget()}
	cfg := &out.cfg
	var defaultsNode, targetsNode *yaml.Node
	d.fields("", root, map[string]field{
		"service_name": func(p string, v *yaml.Node) { d.str(p, v, &cfg.ServiceName) },
		"nats":         func(p string, v *yaml.Node) { d.nats(p, v, &cfg.NATS) },
		"streams":      func(p string, v *yaml.Node) { d.streams(p, v, &cfg.Streams) },
		"http": func(p string, v *yaml.Node) {
			d.fields(p, v, map[string]field{"listen": d.strField(&cfg.HTTP.Listen), "token": d.strField(&cfg.HTTP.Token)})
		},
		"shutdown_timeout": func(p string, v *yaml.Node) { d.duration(p, v, &cfg.ShutdownTimeout) },
		"orphan_grace":     func(p string, v *yaml.Node) { d.duration(p, v, &cfg.OrphanGrace) },
		"security":         func(p string, v *yaml.Node) { d.security(p, v, &cfg.Security) },
		"fleet": func(p string, v *yaml.Node) {
			d.fields(p, v, map[string]field{
				"share_breakers": func(p string, v *yaml.Node) { d.boolean(p, v, &cfg.Fleet.ShareBreakers) },
				"heartbeat":      d.durationField(&cfg.Fleet.Heartbeat),
			})
		},
		"health": func(p string, v *yaml.Node) {
			d.fields(p, v, map[string]field{"window": d.durationField(&cfg.Health.Window)})
		},
		"defaults": func(_ string, v *yaml.Node) { defaultsNode = v },
		"targets":  func(_ string, v *yaml.Node) { targetsNode = v },
	})
	if defaultsNode != nil {
		d.fields("defaults", defaultsNode, d.settingsFields(&out.defaults))
	}
	d.entries("targets", targetsNode, func(name, path string, v *yaml.Node) {
		out.anyTarget = true
		t := inherit(out.defaults, name)
		if d.fields(path, v, d.targetFields(&t)) {
			cfg.Targets[name] = t
			out.targets = append(out.targets, decodedTarget{name: name, path: path})
		}
	})
	return out
}

func (d *decoder) strField(out *string) field {
	return func(p string, v *yaml.Node) { d.str(p, v, out) }
}

func (d *decoder) intField(out *int) field {
	return func(p string, v *yaml.Node) { d.integer(p, v, out) }
}

func (d *decoder) numberField(out *float64) field {
	return func(p string, v *yaml.Node) { d.number(p, v, out) }
}

func (d *decoder) durationField(out *time.Duration) field {
	return func(p string, v *yaml.Node) { d.duration(p, v, out) }
}

func (d *decoder) nats(path string, n *yaml.Node, out *NATS) {
	d.fields(path, n, map[string]field{
		"url":      d.strField(&out.URL),
		"creds":    d.strField(&out.Creds),
		"user":     d.strField(&out.User),
		"password": d.strField(&out.Password),
		"token":    d.strField(&out.Token),
		"nkey":     d.strField(&out.NKey),
		"tls": func(p string, v *yaml.Node) {
			d.fields(p, v, map[string]field{
				"ca":   d.strField(&out.TLS.CA),
				"cert": d.strField(&out.TLS.Cert),
				"key":  d.strField(&out.TLS.Key),
			})
		},
		"embedded": func(p string, v *yaml.Node) {
			d.fields(p, v, map[string]field{
				"listen":    d.strField(&out.Embedded.Listen),
				"store_dir": d.strField(&out.Embedded.StoreDir),
				"token":     d.strField(&out.Embedded.Token),
			})
		},
		"replicas":       d.intField(&out.Replicas),
		"subject_prefix": d.strField(&out.SubjectPrefix),
	})
}

func (d *decoder) streams(path string, n *yaml.Node, out *Streams) {
	d.fields(path, n, map[string]field{
		"dead_letter_max_age": d.durationField(&out.DeadLetterMaxAge),
		"fallback_max_age":    d.durationField(&out.FallbackMaxAge),
		"audit_max_age":       d.durationField(&out.AuditMaxAge),
		"partitions":          d.intField(&out.Partitions),
	})
}

func (d *decoder) security(path string, n *yaml.Node, out *worker.Security) {
	d.fields(path, n, map[string]field{
		"allow_private_networks": func(p string, v *yaml.Node) { d.boolean(p, v, &out.AllowPrivateNetworks) },
		"max_job_bytes":          d.intField(&out.MaxJobBytes),
		"max_response_bytes":     d.intField(&out.MaxResponseBytes),
		"redact_headers":         func(p string, v *yaml.Node) { d.stringList(p, v, &out.RedactHeaders) },
		"reply_to_allow":         func(p string, v *yaml.Node) { d.stringList(p, v, &out.ReplyToAllow) },
		"state_keys":             func(p string, v *yaml.Node) { d.stringList(p, v, (*[]string)(&out.StateKeys)) },
	})
}

// settingsFields are the keys of the defaults section, which a target may
// override one by one.
func (d *decoder) settingsFields(t *worker.Target) map[string]field {
	return map[string]field{
		"concurrency":    d.intField(&t.Concurrency),
		"limit_scope":    d.strField(&t.LimitScope),
		"allow_networks": func(p string, v *yaml.Node) { d.networkList(p, v, &t.AllowNetworks) },
		"timeouts": func(p string, v *yaml.Node) {
			d.fields(p, v, map[string]field{
				"connect":         d.durationField(&t.Timeouts.Connect),
				"tls":             d.durationField(&t.Timeouts.TLS),
				"response_header": d.durationField(&t.Timeouts.ResponseHeader),
				"total":           d.durationField(&t.Timeouts.Total),
			})
		},
		"retry": func(p string, v *yaml.Node) {
			r := &t.Retry
			d.fields(p, v, map[string]field{
				"max_attempts":     d.intField(&r.MaxAttempts),
				"initial_interval": d.durationField(&r.InitialInterval),
				"multiplier":       d.numberField(&r.Multiplier),
				"max_interval":     d.durationField(&r.MaxInterval),
				"randomization":    d.numberField(&r.Randomization),
				"max_elapsed":      d.durationField(&r.MaxElapsed),
				"retry_on_status":  func(p string, v *yaml.Node) { d.intList(p, v, &r.RetryOnStatus) },
				"max_retry_after":  d.durationField(&r.MaxRetryAfter),
				"budget_ratio":     d.numberField(&r.BudgetRatio),
				"after_send":       d.strField(&r.AfterSend),
			})
		},
		"breaker": func(p string, v *yaml.Node) {
			b := &t.Breaker
			d.fields(p, v, map[string]field{
				"consecutive_failures": d.intField(&b.ConsecutiveFailures),
				"failure_ratio":        d.numberField(&b.FailureRatio),
				"min_requests":         d.intField(&b.MinRequests),
				"window":               d.durationField(&b.Window),
				"open_timeout":         d.durationField(&b.OpenTimeout),
				"half_open_requests":   d.intField(&b.HalfOpenRequests),
				"when_open":            d.strField(&b.WhenOpen),
			})
		},
		"rate_limit": func(p string, v *yaml.Node) {
			rl := &worker.RateLimit{}
			if t.RateLimit != nil {
				*rl = *t.RateLimit
			}
			if d.fields(p, v, map[string]field{
				"per_second": d.numberField(&rl.PerSecond),
				"burst":      d.intField(&rl.Burst),
			}) {
				t.RateLimit = rl
			}
		},
	}
}

// targetFields are the keys of one target: its own plus every key of the
// defaults section.
func (d *decoder) targetFields(t *worker.Target) map[string]field {
	fields := d.settingsFields(t)
	fields["endpoints"] = func(p string, v *yaml.Node) { d.stringList(p, v, &t.Endpoints) }
	fields["headers"] = func(p string, v *yaml.Node) {
		t.Headers = map[string]string{}
		d.entries(p, v, func(name, hp string, hv *yaml.Node) {
			if isNull(hv) {
				d.fail(hp, "must be a string, got null")
				return
			}
			if s, ok := d.scalar(hp, hv, "a string"); ok {
				t.Headers[name] = s.Value
			}
		})
	}
	fields["allow_private"] = func(p string, v *yaml.Node) { d.boolean(p, v, &t.AllowPrivate) }
	fields["signing"] = func(p string, v *yaml.Node) {
		sg := &worker.Signing{}
		if d.fields(p, v, map[string]field{
			"secret": func(p string, v *yaml.Node) {
				if deref(v).Kind == yaml.SequenceNode {
					d.stringList(p, v, &sg.Secrets)
					return
				}
				if s, ok := d.scalar(p, v, "a string or a list of strings"); ok {
					sg.Secrets = []string{s.Value}
				}
			},
		}) {
			t.Signing = sg
		}
	}
	fields["fallback"] = func(p string, v *yaml.Node) {
		fb := &worker.FallbackResponse{}
		if d.fields(p, v, map[string]field{
			"status": d.intField(&fb.Status),
			"body":   func(p string, v *yaml.Node) { fb.Body = d.jsonBody(p, v) },
		}) {
			t.Fallback = fb
		}
	}
	return fields
}
