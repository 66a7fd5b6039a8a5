from tests.smtp import smtp, smtp_login, smtp_tls, smtp_url  # noqa: F401 (fixtures)
