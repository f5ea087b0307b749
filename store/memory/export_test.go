package memory

// Counters reports how many counters the store keeps (for tests).
func Counters(s *Store) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.counters)
}
