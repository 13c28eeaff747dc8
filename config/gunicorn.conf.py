"""gunicorn settings (used by the Dockerfile and docker-compose with ``-c config/gunicorn.conf.py``).

The access log leaves out the query string and the Referer, so an identifier in a URL is never
written to it (issue 11 item 5; config/access_log.py).
"""

# The same string as config.access_log.ACCESS_LOG_FORMAT (tests/test_platform_access_logs.py checks): written out
# here because gunicorn reads this file before the project is importable. %(U)s is the path without the query.
ACCESS_LOG_FORMAT = '%(h)s %(l)s %(u)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s "%(a)s" %(L)s'
bind = "0.0.0.0:8000"
workers = 3
accesslog = "-"
access_log_format = ACCESS_LOG_FORMAT
