package e2e

import "testing"

// TestStockClients runs the stock clients that have no test of their own
// against one issuer, in parallel: uacme and Caddy, each with its own
// device.
func TestStockClients(t *testing.T) {
	t.Parallel()
	iss := startIssuer(t)
	t.Run("uacme", func(t *testing.T) {
		requireTool(t, "uacme", "uacme")
		t.Parallel()
		testUacme(t, iss)
	})
	t.Run("caddy", func(t *testing.T) {
		requireTool(t, "caddy", "caddy")
		t.Parallel()
		testCaddy(t, iss)
	})
}
