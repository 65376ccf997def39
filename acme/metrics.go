package acme

import (
	"errors"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lantls/lantls/problem"
)

// metrics are the counters the front end keeps.
type metrics struct {
	problems *prometheus.CounterVec
	issued   *prometheus.CounterVec
	revoked  *prometheus.CounterVec
}

// newMetrics makes the counters and registers them on reg when it is not
// nil. A second server on the same registry shares the first one's counters.
func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		problems: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lantls_acme_problems_total",
			Help: "ACME problem documents sent, by problem type.",
		}, []string{"type"}),
		issued: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lantls_acme_certificates_issued_total",
			Help: "Certificates issued through ACME, by profile.",
		}, []string{"profile"}),
		revoked: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "lantls_acme_revocations_total",
			Help: "Certificates revoked through ACME, by RFC 5280 reason.",
		}, []string{"reason"}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []**prometheus.CounterVec{&m.problems, &m.issued, &m.revoked} {
		err := reg.Register(*c)
		var are prometheus.AlreadyRegisteredError
		switch {
		case errors.As(err, &are):
			existing, ok := are.ExistingCollector.(*prometheus.CounterVec)
			if !ok {
				return nil, err
			}
			*c = existing
		case err != nil:
			return nil, err
		}
	}
	return m, nil
}

func (m *metrics) problem(kind problem.Kind) { m.problems.WithLabelValues(string(kind)).Inc() }

func (m *metrics) issue(profile string) { m.issued.WithLabelValues(profile).Inc() }

func (m *metrics) revoke(reason int) { m.revoked.WithLabelValues(reasonName(reason)).Inc() }

// reasonName names the RFC 5280 reason codes that revokeCert accepts.
func reasonName(reason int) string {
	switch reason {
	case reasonUnspecified:
		return "unspecified"
	case reasonKeyCompromise:
		return "keyCompromise"
	case reasonAffiliationChanged:
		return "affiliationChanged"
	case reasonSuperseded:
		return "superseded"
	case reasonCessationOfOperation:
		return "cessationOfOperation"
	}
	return strconv.Itoa(reason)
}
