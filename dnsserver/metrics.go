package dnsserver

import (
	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the server's Prometheus metrics. Counters are looked up
// once, so counting a response is one atomic add.
type metrics struct {
	responses    [24]prometheus.Counter // by rcode; the last one counts the rest
	rrlDropped   prometheus.Counter
	rrlSlipped   prometheus.Counter
	reloads      prometheus.Counter
	reloadErrors prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, s *Server) *metrics {
	responses := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "lantls_dns_responses_total",
		Help: "DNS responses sent, by rcode.",
	}, []string{"rcode"})
	m := &metrics{
		rrlDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "lantls_dns_rrl_dropped_total",
			Help: "UDP responses dropped by response rate limiting.",
		}),
		rrlSlipped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "lantls_dns_rrl_slipped_total",
			Help: "UDP responses sent truncated and empty by response rate limiting, so the client retries over TCP.",
		}),
		reloads: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "lantls_dns_zone_loads_total",
			Help: "Times the DNS index was loaded from the store: the whole zone at start, then each batch of changes from the change feed.",
		}),
		reloadErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "lantls_dns_zone_load_errors_total",
			Help: "Failed attempts to check or load the DNS index from the store.",
		}),
	}
	for rc := range m.responses {
		name := dns.RcodeToString[rc]
		if rc == len(m.responses)-1 || name == "" {
			name = "other"
		}
		m.responses[rc] = responses.WithLabelValues(name)
	}
	if reg != nil {
		reg.MustRegister(responses, m.rrlDropped, m.rrlSlipped, m.reloads, m.reloadErrors,
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "lantls_dns_zone_version",
				Help: "The store's DNS change counter the index reflects (the SOA serial is its low 32 bits).",
			}, func() float64 { return float64(s.idx.Load().version) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "lantls_dns_devices",
				Help: "Active devices in the DNS index.",
			}, func() float64 { return float64(s.devs.Load().devices()) }))
	}
	return m
}

// count counts one response with rcode rc.
func (m *metrics) count(rc int) {
	if rc < 0 || rc >= len(m.responses) {
		rc = len(m.responses) - 1
	}
	m.responses[rc].Inc()
}
