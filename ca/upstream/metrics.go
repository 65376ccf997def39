package upstream

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are what the operator watches of the upstream: how orders end,
// how often a step must be tried again, and how long the queue is.
type metrics struct {
	ended   *prometheus.CounterVec
	retries *prometheus.CounterVec
	queue   prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		ended: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lantls_upstream_orders_total",
			Help: "Orders the upstream signer ended, by outcome (valid, or the problem type of an invalid one).",
		}, []string{"outcome"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lantls_upstream_retries_total",
			Help: "Steps of upstream orders to be tried again, by the upstream's problem type (empty: unreachable).",
		}, []string{"type"}),
		queue: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "lantls_upstream_queue_orders",
			Help: "Orders waiting for or at the upstream CA.",
		}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.ended, m.retries, m.queue} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return nil, err
			}
		}
	}
	return m, nil
}
