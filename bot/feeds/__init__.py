"""Hash lists that travel: subscriptions refreshed over HTTPS, and signed feeds published."""
