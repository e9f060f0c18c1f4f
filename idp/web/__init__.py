"""Web plumbing: sessions, cookies, headers, CSRF forms, error pages, rate limits by address."""
