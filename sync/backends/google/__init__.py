"""Google Sheets as storage: the backend, its HTTP layer, settings, sign-in, grids and state."""
