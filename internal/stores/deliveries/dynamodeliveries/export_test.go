package dynamodeliveries

// SetListBounds lowers the bounds of List, so tests reach them with a few
// deliveries.
func SetListBounds(s *Store, queries, filteredLimit int) {
	s.maxQueries, s.minFilteredLimit = queries, filteredLimit
}
