package config_test

import (
	"errors"
	"fmt"

	"github.com/jetdispatch/dispatcher/dispatcher/config"
)

func ExampleParse() {
	const file = `
defaults:
  retry: {max_attempts: 3}
targets:
  payments:
    endpoints: ["https://pay.example.com"]
    headers: {Authorization: "Bearer ${PAYMENTS_TOKEN}"}
    timeouts: {total: 10s}
    retry: {randomization: 0}
`
	env := map[string]string{"PAYMENTS_TOKEN": "t0k3n"}
	cfg, err := config.Parse([]byte(file), func(name string) (string, bool) {
		v, ok := env[name]
		return v, ok
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	p := cfg.Targets["payments"]
	fmt.Println(cfg.TargetNames(), cfg.NATS.SubjectPrefix)
	fmt.Println(p.Timeouts.Total, p.Timeouts.Connect, p.Retry.MaxAttempts, p.Retry.Randomization)
	// Output:
	// [payments] dispatch
	// 10s 3s 3 0
}

func ExampleError() {
	const file = `
targets:
  payments:
    endpoints: ["https://pay.example.com"]
    retrys: {max_attempts: 0}
    retry: {max_attempts: 0}
`
	_, err := config.Parse([]byte(file), nil)
	var cerr *config.Error
	if errors.As(err, &cerr) {
		for _, fe := range cerr.Errors {
			fmt.Println(fe.Path)
		}
	}
	fmt.Println(err)
	// Output:
	// targets.payments.retrys
	// targets.payments.retry.max_attempts
	// targets.payments.retrys: unknown key (did you mean "retry"?)
	// targets.payments.retry.max_attempts: must be at least 1
}
