package acme

// SetOrdersPerPage changes the page size of account order lists, so tests
// can page through a few orders.
func (s *Server) SetOrdersPerPage(n int) { s.pageSize = n }
