"""Staff accounts: sign-in, credentials, two-factor, what admins change."""
