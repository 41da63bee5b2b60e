# Modal's Python client dials TLS through grpclib, which trusts certifi's bundle only and
# ignores SSL_CERT_FILE. For tests against a sandboxd with a test CA, this makes certifi
# answer with SSL_CERT_FILE (put this directory on PYTHONPATH).
import os

_ca = os.environ.get("SSL_CERT_FILE")
if _ca:
    import certifi

    certifi.where = lambda: _ca
